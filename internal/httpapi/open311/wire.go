package open311

import (
	"encoding/json"
	"encoding/xml"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

// This file holds GeoReport v2's documents, each written as XML (the
// spec's required format) or JSON (the Spark mapping of the same XML):
// element names and their order are the spec's.

// format is how an answer is written: the resource's suffix.
type format int

const (
	formatJSON format = iota
	formatXML
)

// Content types of the answers, as the spec gives them.
const (
	mimeJSON = "application/json; charset=utf-8"
	mimeXML  = "text/xml; charset=utf-8"
)

// parseFormat reads a resource suffix: json or xml; anything else names no
// resource (404).
func parseFormat(s string) (format, error) {
	switch s {
	case "json":
		return formatJSON, nil
	case "xml":
		return formatXML, nil
	}
	return formatJSON, grid.Errorf(grid.NotFound, "format %q: resources end in .json or .xml", s)
}

// splitFormat cuts "E0505.json" into the id and its format.
func splitFormat(s string) (string, format, error) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return s, formatJSON, grid.Errorf(grid.NotFound, "%q: resources end in .json or .xml", s)
	}
	f, err := parseFormat(s[i+1:])
	return s[:i], f, err
}

// formatOfPath guesses the format of an answer from the request path, for
// errors raised before a handler read it.
func formatOfPath(path string) format {
	if strings.HasSuffix(path, ".xml") {
		return formatXML
	}
	return formatJSON
}

// write sends js as JSON or doc as XML (with the XML declaration the spec
// asks for).
func write(c echo.Context, f format, status int, js, doc any) error {
	if f == formatXML {
		b, err := xml.Marshal(doc)
		if err != nil {
			return err
		}
		return c.Blob(status, mimeXML, append([]byte(xml.Header), b...))
	}
	b, err := json.Marshal(js)
	if err != nil {
		return err
	}
	return c.Blob(status, mimeJSON, b)
}

// text is a value the spec may leave out: JSON writes an empty one as
// null, as the spec's examples do; XML as an empty element.
type text string

func (t text) MarshalJSON() ([]byte, error) {
	if t == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(t))
}

// apiError is one entry of an error answer.
type apiError struct {
	Code        int    `json:"code" xml:"code"`
	Description string `json:"description" xml:"description"`
}

type errorsDoc struct {
	XMLName xml.Name   `xml:"errors"`
	Errors  []apiError `xml:"error"`
}

type discoveryDoc struct {
	XMLName    xml.Name   `json:"-" xml:"discovery"`
	Changeset  string     `json:"changeset" xml:"changeset"`
	Contact    string     `json:"contact" xml:"contact"`
	KeyService string     `json:"key_service" xml:"key_service"`
	Endpoints  []endpoint `json:"endpoints" xml:"endpoints>endpoint"`
}

type endpoint struct {
	Specification string   `json:"specification" xml:"specification"`
	URL           string   `json:"url" xml:"url"`
	Changeset     string   `json:"changeset" xml:"changeset"`
	Type          string   `json:"type" xml:"type"`
	Formats       []string `json:"formats" xml:"formats>format"`
}

type service struct {
	Code        string `json:"service_code" xml:"service_code"`
	Name        string `json:"service_name" xml:"service_name"`
	Description string `json:"description" xml:"description"`
	Metadata    bool   `json:"metadata" xml:"metadata"`
	Type        string `json:"type" xml:"type"`
	Keywords    string `json:"keywords" xml:"keywords"`
	Group       string `json:"group" xml:"group"`
}

type servicesDoc struct {
	XMLName  xml.Name  `xml:"services"`
	Services []service `xml:"service"`
}

type definitionJSON struct {
	Code       string          `json:"service_code"`
	Attributes []attributeWire `json:"attributes"`
}

// definitionDoc writes <attributes/> even for a service that asks none.
type definitionDoc struct {
	XMLName    xml.Name `xml:"service_definition"`
	Code       string   `xml:"service_code"`
	Attributes struct {
		List []attributeWire `xml:"attribute"`
	} `xml:"attributes"`
}

type attributeWire struct {
	Variable            bool        `json:"variable" xml:"variable"`
	Code                string      `json:"code" xml:"code"`
	Datatype            string      `json:"datatype" xml:"datatype"`
	Required            bool        `json:"required" xml:"required"`
	DatatypeDescription text        `json:"datatype_description" xml:"datatype_description"`
	Order               int         `json:"order" xml:"order"`
	Description         string      `json:"description" xml:"description"`
	Values              []valueWire `json:"values,omitempty" xml:"values>value"`
}

type valueWire struct {
	Key  string `json:"key" xml:"key"`
	Name string `json:"name" xml:"name"`
}

// createdWire answers a POST. account_id is always empty: what the client
// sent of the reporter is never shown.
type createdWire struct {
	ID        string `json:"service_request_id" xml:"service_request_id"`
	Notice    text   `json:"service_notice" xml:"service_notice"`
	AccountID text   `json:"account_id" xml:"account_id"`
}

type createdDoc struct {
	XMLName  xml.Name      `xml:"service_requests"`
	Requests []createdWire `xml:"request"`
}

type requestWire struct {
	ID                string  `json:"service_request_id" xml:"service_request_id"`
	Status            string  `json:"status" xml:"status"`
	StatusNotes       text    `json:"status_notes" xml:"status_notes"`
	ServiceName       string  `json:"service_name" xml:"service_name"`
	ServiceCode       string  `json:"service_code" xml:"service_code"`
	Description       text    `json:"description" xml:"description"`
	AgencyResponsible text    `json:"agency_responsible" xml:"agency_responsible"`
	ServiceNotice     text    `json:"service_notice" xml:"service_notice"`
	RequestedDatetime string  `json:"requested_datetime" xml:"requested_datetime"`
	UpdatedDatetime   string  `json:"updated_datetime" xml:"updated_datetime"`
	ExpectedDatetime  text    `json:"expected_datetime" xml:"expected_datetime"`
	Address           text    `json:"address" xml:"address"`
	AddressID         text    `json:"address_id" xml:"address_id"`
	Zipcode           text    `json:"zipcode" xml:"zipcode"`
	Lat               float64 `json:"lat" xml:"lat"`
	Long              float64 `json:"long" xml:"long"`
	MediaURL          text    `json:"media_url" xml:"media_url"`
}

type requestsDoc struct {
	XMLName  xml.Name      `xml:"service_requests"`
	Requests []requestWire `xml:"request"`
}
