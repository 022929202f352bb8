"""Word lists and distributions behind the demo customer base (devtools/demo.py)."""

COMPANY_FIRST = (
    "Blue", "Bright", "Cedar", "Clear", "Copper", "Crimson", "Delta", "Ember", "Evergreen", "Falcon",
    "Fern", "Flint", "Golden", "Granite", "Harbor", "Hazel", "Horizon", "Indigo", "Iron", "Juniper",
    "Kestrel", "Lumen", "Maple", "Meridian", "Nimbus", "North", "Oak", "Onyx", "Orbit", "Pine",
    "Polar", "Prism", "Quartz", "Rapid", "Red", "River", "Sage", "Silver", "Slate", "Solar",
    "Spruce", "Stone", "Summit", "Swift", "Tidal", "True", "Vantage", "Vector", "Violet", "Willow",
)
COMPANY_SECOND = (
    "bridge", "byte", "cast", "core", "craft", "dash", "field", "flow", "forge", "frame",
    "gate", "grid", "hive", "hub", "lane", "leaf", "light", "line", "link", "loop",
    "mark", "metric", "mint", "nest", "path", "peak", "point", "pulse", "scale", "scope",
    "shift", "signal", "sky", "spark", "spring", "stack", "stream", "tide", "track", "trail",
    "vault", "view", "wave", "well", "wing", "works",
)
COMPANY_SUFFIX = (
    "", "", "", " Labs", " Systems", " Analytics", " Software", " Group", " Technologies",
    " Health", " Logistics", " Media", " Partners", " Cloud", " Inc.", " AI",
)
DOMAIN_TLDS = ("com", "com", "com", "io", "io", "co", "ai", "app", "net")

FIRST_NAMES = (
    "Aaliyah", "Aaron", "Adam", "Aisha", "Alejandro", "Alex", "Alice", "Amara", "Amelia", "Ana",
    "Andrea", "Andrew", "Anna", "Arjun", "Ava", "Ben", "Bianca", "Carlos", "Caroline", "Chen",
    "Chloe", "Chris", "Claire", "Daniel", "David", "Diego", "Dmitri", "Elena", "Eli", "Emily",
    "Emma", "Ethan", "Fatima", "Felix", "Fiona", "Gabriel", "Grace", "Hana", "Hannah", "Hiro",
    "Isabel", "Ivan", "Jack", "James", "Jana", "Jasmine", "Javier", "Jessica", "Jin", "Jonas",
    "Julia", "Kai", "Karen", "Kenji", "Laura", "Leila", "Leo", "Liam", "Lucas", "Lucia",
    "Maria", "Mark", "Marta", "Mateo", "Maya", "Mei", "Michael", "Mohammed", "Nadia", "Naomi",
    "Nina", "Noah", "Olga", "Oliver", "Olivia", "Omar", "Pablo", "Paul", "Priya", "Rachel",
    "Rahul", "Raj", "Rosa", "Ryan", "Sam", "Sara", "Sebastian", "Sofia", "Sophie", "Stefan",
    "Tariq", "Thomas", "Tom", "Valentina", "Victor", "Wei", "Yara", "Yuki", "Zara", "Zoe",
)
LAST_NAMES = (
    "Adams", "Ahmed", "Alvarez", "Andersen", "Bauer", "Becker", "Brown", "Campbell", "Chen", "Clarke",
    "Costa", "Davis", "Dubois", "Evans", "Fernandez", "Fischer", "Garcia", "Gonzalez", "Gupta", "Hall",
    "Hansen", "Harris", "Hoffmann", "Hughes", "Ito", "Jansen", "Johnson", "Jones", "Kim", "Klein",
    "Kowalski", "Kumar", "Larsen", "Lee", "Lopez", "Martin", "Martinez", "Meyer", "Miller", "Moreau",
    "Morris", "Muller", "Murphy", "Nakamura", "Nguyen", "Novak", "O'Brien", "Okafor", "Park", "Patel",
    "Pereira", "Petrov", "Rossi", "Russo", "Sanchez", "Santos", "Sato", "Schmidt", "Schneider", "Shah",
    "Silva", "Singh", "Smith", "Suzuki", "Tanaka", "Taylor", "Thompson", "Wagner", "Walker", "Wang",
    "Weber", "White", "Williams", "Wilson", "Wong", "Yamamoto", "Young", "Zhang", "Zhou", "Ziegler",
)

# plan: (share of accounts, ARR min, ARR max, relative number of contacts)
PLANS = {
    "free": (0.30, 0, 0, 1.0),
    "starter": (0.30, 1_200, 12_000, 2.0),
    "pro": (0.28, 12_000, 60_000, 4.5),
    "enterprise": (0.12, 60_000, 480_000, 12.0),
}
# region: (share of accounts, timezones, languages)
REGIONS = {
    "North America": (0.45, ("America/New_York", "America/Chicago", "America/Denver",
                             "America/Los_Angeles", "America/Toronto"), ("en",)),
    "EMEA": (0.30, ("Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Madrid",
                    "Europe/Amsterdam", "Europe/Stockholm", "Africa/Lagos"), ("en", "de", "fr", "es")),
    "APAC": (0.17, ("Asia/Tokyo", "Asia/Singapore", "Australia/Sydney", "Asia/Kolkata",
                    "Asia/Seoul"), ("en", "ja")),
    "LATAM": (0.08, ("America/Sao_Paulo", "America/Mexico_City", "America/Bogota",
                     "America/Argentina/Buenos_Aires"), ("es", "pt")),
}
INDUSTRIES = (
    "Software", "Fintech", "Healthcare", "E-commerce", "Education", "Media", "Logistics",
    "Manufacturing", "Marketing", "Real estate", "Travel", "Nonprofit",
)
CSM_OWNERS = ("Dana Whitfield", "Marcus Lee", "Priya Raman", "Sven Olsen", "Lucia Ortega")

# role: (share after the account owner, chance of being a CRM contact, chance of using the product, titles)
ROLES = {
    "admin": (0.08, 0.60, 0.95, ("IT Administrator", "Operations Lead", "Systems Admin")),
    "manager": (0.15, 0.35, 0.90, ("Customer Success Manager", "Team Lead", "Head of Sales")),
    "analyst": (0.20, 0.05, 0.98, ("Data Analyst", "Business Analyst", "Revenue Analyst")),
    "developer": (0.17, 0.03, 0.98, ("Software Engineer", "Backend Developer", "Data Engineer")),
    "user": (0.40, 0.04, 0.97, ("Account Executive", "Support Specialist", "Marketing Associate")),
}
OWNER_TITLES = ("CEO", "COO", "VP Operations", "Head of Customer Success")

# Per-user activity levels: (share of product users, relative events per active day).
# Product usage is heavy-tailed: one user in a thousand (an integration, a power
# user living in the product) sends hundreds of events a day, most users a few.
ACTIVITY_LEVELS = ((0.001, 2000.0), (0.10, 8.0), (0.45, 3.0), (0.349, 1.0), (0.10, 0.2))
# Events come in sessions: a user active on a day does several things that day.
EVENTS_PER_ACTIVE_DAY = 5

# Product events (payment_failed is added separately, rarely, for billing contacts).
EVENT_WEIGHTS = (
    ("dashboard_viewed", 38), ("login", 30), ("report_created", 13), ("export_run", 9),
    ("invite_sent", 3),
)
EVENT_PROPERTIES = {
    "login": ('{"method": "password"}', '{"method": "sso"}', '{"method": "google"}',
              '{"method": "password", "device": "mobile"}'),
    "dashboard_viewed": tuple(f'{{"dashboard": "{d}"}}' for d in (
        "Overview", "Revenue", "Pipeline", "Usage", "Churn risk", "Support", "Team activity")),
    "report_created": tuple(f'{{"report": "{r}", "widgets": {w}}}' for r, w in (
        ("Weekly usage", 4), ("Quarterly revenue", 6), ("Cohort retention", 3), ("Funnel", 5),
        ("NPS by segment", 2), ("Ticket backlog", 4))),
    "export_run": tuple(f'{{"format": "{f}", "rows": {n}}}' for f, n in (
        ("csv", 1200), ("csv", 18500), ("xlsx", 640), ("xlsx", 9800), ("pdf", 12), ("csv", 250))),
    "invite_sent": ('{"invitee_role": "user"}', '{"invitee_role": "analyst"}',
                    '{"invitee_role": "admin"}'),
    "payment_failed": ('{"amount": 490.0, "currency": "USD", "reason": "card_declined"}',
                       '{"amount": 1290.0, "currency": "USD", "reason": "insufficient_funds"}',
                       '{"amount": 5400.0, "currency": "USD", "reason": "expired_card"}'),
}
# Standard-time UTC offsets (hours) so activity lands in each contact's office hours.
UTC_OFFSETS = {
    "America/New_York": -5, "America/Chicago": -6, "America/Denver": -7, "America/Los_Angeles": -8,
    "America/Toronto": -5, "Europe/London": 0, "Europe/Berlin": 1, "Europe/Paris": 1,
    "Europe/Madrid": 1, "Europe/Amsterdam": 1, "Europe/Stockholm": 1, "Africa/Lagos": 1,
    "Asia/Tokyo": 9, "Asia/Singapore": 8, "Australia/Sydney": 10, "Asia/Kolkata": 5.5,
    "Asia/Seoul": 9, "America/Sao_Paulo": -3, "America/Mexico_City": -6, "America/Bogota": -5,
    "America/Argentina/Buenos_Aires": -3,
}
