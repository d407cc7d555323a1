-- Every breach detected in the window [:start, :end), oldest first.
SELECT id, service, kind, ticket, slo, slo_window, detected_at, observed, target
FROM breaches
WHERE detected_at >= :start AND detected_at < :end
ORDER BY detected_at, id
