//! Pure kubectl JSONPath and kstatus readiness over JSON objects.
