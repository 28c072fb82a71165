package httpapi

import (
	"net/http"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

type categoryDTO struct {
	Code      string `json:"code"`
	Name      string `json:"name"`
	MajorName string `json:"major_name"`
	Kind      string `json:"kind"` // part or event
	Theme     string `json:"theme"`
	TimeLimit int    `json:"time_limit"`
	Unit      string `json:"unit"` // working_hours or working_days
}

func (s *Server) routesCategories(e *echo.Echo) {
	e.GET("/v1/categories", s.categories)
}

// categories: GET /v1/categories — the categories the snapshot knows, in
// code order (the snapshot keeps them so), for pickers and legends. Public.
func (s *Server) categories(c echo.Context) error {
	snap := s.cfg.Catalog.Current()
	if snap == nil {
		return grid.Errorf(grid.Unavailable, "the grid snapshot is not loaded yet")
	}
	out := make([]categoryDTO, 0, len(snap.Categories))
	for _, k := range snap.Categories {
		out = append(out, categoryDTO{Code: k.Code, Name: k.Name, MajorName: k.MajorName, Kind: k.Kind(),
			Theme: k.Theme, TimeLimit: k.Limit, Unit: k.Unit})
	}
	return c.JSON(http.StatusOK, map[string]any{"categories": out})
}
