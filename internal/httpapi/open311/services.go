package open311

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

// services: GET services.{format} — every category of the grid snapshot,
// by code.
func (h *handlers) services(c echo.Context) error {
	f, err := parseFormat(c.Param("format"))
	if err != nil {
		return err
	}
	if err := checkJurisdiction(c.QueryParam("jurisdiction_id")); err != nil {
		return err
	}
	snap, err := h.snapshot()
	if err != nil {
		return err
	}
	list := make([]service, 0, len(snap.Categories))
	for i := range snap.Categories {
		list = append(list, serviceOf(&snap.Categories[i]))
	}
	slices.SortFunc(list, func(a, b service) int { return strings.Compare(a.Code, b.Code) })
	return write(c, f, http.StatusOK, list, servicesDoc{Services: list})
}

// definition: GET services/{service_code}.{format} — the attributes a
// service asks (none for most).
func (h *handlers) definition(c echo.Context) error {
	code, f, err := splitFormat(c.Param("service_code"))
	if err != nil {
		return err
	}
	if err := checkJurisdiction(c.QueryParam("jurisdiction_id")); err != nil {
		return err
	}
	snap, err := h.snapshot()
	if err != nil {
		return err
	}
	if _, ok := snap.Category(code); !ok {
		return unknownService(code)
	}
	js := definitionJSON{Code: code, Attributes: []attributeWire{}}
	doc := definitionDoc{Code: code}
	for _, a := range Definition(code) {
		js.Attributes = append(js.Attributes, a.wire())
	}
	doc.Attributes.List = js.Attributes
	return write(c, f, http.StatusOK, js, doc)
}

func unknownService(code string) error {
	return grid.Errorf(grid.NotFound, "service_code %q was not found: services.json lists the services", code)
}

// serviceOf is a category as GeoReport lists it: the code, the Chinese
// name, what kind of problem it is and its handling time limit; grouped by
// its major class.
func serviceOf(k *grid.Category) service {
	kind := "事件"
	if k.Kind() == "part" {
		kind = "部件"
	}
	unit := "个工作日"
	if k.Unit == grid.WorkingHours {
		unit = "个工作小时"
	}
	keywords := []string{kind, k.MajorName}
	if t := themeName(k.Theme); t != "" {
		keywords = append(keywords, t)
	}
	return service{Code: k.Code, Name: k.Name,
		Description: fmt.Sprintf("%s · %s · %s；处置时限 %d %s", kind, k.MajorName, k.Name, k.Limit, unit),
		Metadata:    len(Definition(k.Code)) > 0, Type: "realtime", Keywords: strings.Join(keywords, ", "), Group: k.MajorName}
}

// themeName is a heatmap theme in the words a citizen would search for.
func themeName(theme string) string {
	switch theme {
	case "parking":
		return "违停"
	case "waterlogging":
		return "积水"
	case "sanitation":
		return "环境卫生"
	}
	return ""
}
