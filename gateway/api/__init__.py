"""The HTTP API: GOV.UK Notify v2 compatible routes, authentication, errors and the OpenAPI document."""
