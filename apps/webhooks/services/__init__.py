"""Every write to webhooks, one module per job.

``endpoints`` changes the endpoints a workspace registers, ``emission`` turns a
change elsewhere in the console into deliveries (and notifications), ``dispatch``
sends deliveries and retries them, and ``notifications`` keeps the in-app list.

A delivery row is the truth about an event owed to an endpoint: it is created in
the transaction of the change it announces, tried once right after commit, and
retried by the dispatcher (beat) from ``next_attempt_at``, so retries survive a
worker restart. Endpoint changes are audited; the system's own deliveries are not
(their attempts are the record), but a person's "Send test" and "Resend" are.
"""
