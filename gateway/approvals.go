package gateway

// approvalRoutes registers the refund, payout and approval routes, hooks and loops.
func (s *Server) approvalRoutes() {}
