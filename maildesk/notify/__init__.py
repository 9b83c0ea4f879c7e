"""Notify: outgoing notices (acknowledgements, alerts, status changes) through the outbox.

No notices are sent yet; the pipeline has no notify steps.
"""

NOTIFY_STEPS: tuple[()] = ()
