"""Sign provider webhook requests the way SES/SNS, SendGrid and Mailgun do, with
keys made here: for tests, the webhook benchmark and trying the endpoints
locally. Nothing in the app imports this."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from engine.bounces.webhooks.ses import string_to_sign

TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:nudge-ses"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"


class SnsSigner:
    """An RSA key and a self-signed certificate standing in for SNS's."""

    def __init__(self, cert_url: str = CERT_URL, topic_arn: str = TOPIC_ARN):
        self.cert_url, self.topic_arn = cert_url, topic_arn
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                     .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.fetched: list[str] = []

    def fetch(self, url: str) -> bytes:
        """The injectable fetch: serves the certificate, records every URL asked for."""
        self.fetched.append(url)
        return self.pem if url == self.cert_url else b"<ConfirmSubscriptionResponse/>"

    def sign(self, message: dict, version: str = "1") -> dict:
        message = {"TopicArn": self.topic_arn, "SignatureVersion": version,
                   "SigningCertURL": self.cert_url, **message}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode("ascii")}

    def notification(self, ses_event: dict, message_id: str, version: str = "1",
                     timestamp: str = "2026-01-05T09:00:00.000Z") -> dict:
        return self.sign({"Type": "Notification", "MessageId": message_id,
                          "Message": json.dumps(ses_event), "Timestamp": timestamp}, version)

    def subscription(self, subscribe_url: str, version: str = "1") -> dict:
        return self.sign({"Type": "SubscriptionConfirmation", "MessageId": "sub-1", "Token": "tok",
                          "Message": "You have chosen to subscribe", "SubscribeURL": subscribe_url,
                          "Timestamp": "2026-01-05T09:00:00.000Z"}, version)


def ses_bounce(message_id_header: str, recipient: str, *, permanent=True, return_path=None) -> dict:
    mail = {"messageId": "0102-ses-id", "source": return_path or "hello@example.com",
            "destination": [recipient], "commonHeaders": {"messageId": message_id_header},
            "headers": [{"name": "Message-ID", "value": message_id_header}]}
    return {"notificationType": "Bounce", "mail": mail, "bounce": {
        "bounceType": "Permanent" if permanent else "Transient",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": recipient, "status": "5.1.1" if permanent else "4.2.2",
                               "action": "failed",
                               "diagnosticCode": "smtp; 550 5.1.1 user unknown" if permanent
                               else "smtp; 452 4.2.2 mailbox full"}]}}


def ses_complaint(message_id_header: str, recipient: str) -> dict:
    return {"notificationType": "Complaint",
            "mail": {"messageId": "0102-ses-id", "commonHeaders": {"messageId": message_id_header}},
            "complaint": {"complainedRecipients": [{"emailAddress": recipient}],
                          "complaintFeedbackType": "abuse"}}


class SendGridSigner:
    """An EC P-256 key; `public_key` is what SendGrid's settings page would show."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        der = self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode("ascii")

    def headers(self, body: bytes, timestamp: int) -> dict:
        signature = self.key.sign(str(timestamp).encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode("ascii"),
                "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp)}


def mailgun_signature(signing_key: str, timestamp: int, token: str) -> dict:
    digest = hmac.new(signing_key.encode("utf-8"), f"{timestamp}{token}".encode("utf-8"),
                      hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": digest}
