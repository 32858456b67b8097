package gateway

// billingRoutes registers the subscription, metering and micro-payment routes, hooks and
// loops.
func (s *Server) billingRoutes() {}
