package httpapi

import "github.com/labstack/echo/v4"

// routesStats registers the planner statistics routes.
func (s *Server) routesStats(e *echo.Echo) {}
