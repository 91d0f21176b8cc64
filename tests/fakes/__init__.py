"""Local HTTP stand-ins for the APIs that cannot run here: Stripe, HubSpot, Zendesk."""
