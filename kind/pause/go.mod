module agentarea.io/kind/pause

go 1.23.0
