"""First-responder dispatch: responders, AEDs, incidents, phased offers (issue 15)."""
