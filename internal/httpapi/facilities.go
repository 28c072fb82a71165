package httpapi

import "github.com/labstack/echo/v4"

// routesFacilities registers the facility routes.
func (s *Server) routesFacilities(e *echo.Echo) {}
