package auth

// LimiterSize returns how many keys the login limiters hold.
func LimiterSize(s *Service) int { return s.userLim.size() + s.addrLim.size() }
