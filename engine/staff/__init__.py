"""Staff logins: revocable sessions (sessions.py) and the sign-in check with its
lockout (login.py). The callers (views, commands) own the transaction."""
