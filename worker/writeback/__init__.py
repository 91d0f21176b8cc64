"""Billing health written back to HubSpot companies and Zendesk organizations.

``state`` computes an account's billing status, plan, MRR, renewal date, open
balance and last payment failure from revsync's store; ``push`` coalesces the
changes of an account into one rate-limited write per system; ``hubspot`` and
``zendesk`` are the two small clients; ``tasks`` holds the Celery task.
"""
