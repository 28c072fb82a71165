package grid

// Page limits of the stores' reads. The store enforces each and every
// surface that pages validates its limit parameter against the same
// constant, so the two cannot drift apart.
const (
	MaxIncidentPage       = 1000   // IncidentFilter.Limit: GET /v1/incidents
	MaxServiceRequestPage = 1000   // ServiceRequestFilter.Limit and IDs: Open311 GET requests
	MaxFeaturePage        = 10_000 // FeatureQuery.Limit: OGC API items
	MaxNearestK           = 100    // NearestFacilities' k
	MaxNearestMeters      = 50_000 // NearestFacilities' maxMeters
)
