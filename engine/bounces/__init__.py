"""Bounces and complaints (DESIGN.md "Bounces and complaints"): VERP return paths
(verp.py), DSN parsing (dsn.py), the records and the suppression they apply
(records.py), and the intake paths that feed them (intake.py: the SMTP listener's
handler and IMAP polling). Provider webhooks call records.record_bounce too.
Nothing here commits except the intake orchestrators, which say so."""
