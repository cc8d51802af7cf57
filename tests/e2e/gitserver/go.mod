module agentarea.local/e2e-gitserver

go 1.26.0
