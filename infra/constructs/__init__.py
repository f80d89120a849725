"""One construct per capability: the alerting core (key, topics, secrets, queue), forwarders, alarms."""
