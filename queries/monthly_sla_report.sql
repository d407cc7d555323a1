-- Monthly SLA report: attainment of every availability SLO and every ticket SLA clock of every
-- service over the reporting window [:start, :end).
--
-- Availability follows the default `missing = "exclude"` policy: probe timeslices without data
-- are left out of the denominator (and reported as no_data_seconds); time inside maintenance
-- windows counts neither way (excluded_seconds). Ratio SLIs are good events over total events
-- outside maintenance. Tickets count once, in the window in which their outcome became known.
WITH availability AS (
    SELECT
        service,
        'availability' AS kind,
        slo AS objective,
        MAX(target) AS target,
        CASE WHEN MAX(sli) = 'probe'
            THEN SUM(CASE WHEN state = 'good' THEN slice_seconds - excluded_seconds ELSE 0 END)
            ELSE SUM(CASE WHEN excluded_seconds < slice_seconds THEN good ELSE 0 END) END AS good,
        CASE WHEN MAX(sli) = 'probe'
            THEN SUM(CASE WHEN state IN ('good', 'bad') THEN slice_seconds - excluded_seconds ELSE 0 END)
            ELSE SUM(CASE WHEN excluded_seconds < slice_seconds THEN total ELSE 0 END) END AS total,
        SUM(CASE WHEN state = 'no_data' THEN slice_seconds - excluded_seconds ELSE 0 END) AS no_data_seconds,
        SUM(excluded_seconds) AS excluded_seconds
    FROM availability_slices
    WHERE slice_start >= :start AND slice_start < :end
    GROUP BY service, slo
),
tickets AS (
    SELECT
        service,
        'ticket' AS kind,
        type || ' ' || priority || ' ' || metric AS objective,
        MAX(target_seconds) AS target_seconds,
        SUM(CASE WHEN outcome = 'met' THEN 1 ELSE 0 END) AS good,
        COUNT(*) AS total
    FROM ticket_sla_outcomes
    WHERE decided_at >= :start AND decided_at < :end
    GROUP BY service, type, priority, metric
)
SELECT
    a.service,
    a.kind,
    a.objective,
    a.target,
    CAST(NULL AS BIGINT) AS target_seconds,
    CAST(a.good AS DOUBLE) / NULLIF(CAST(a.total AS DOUBLE), 0) AS attained,
    CAST(a.good AS DOUBLE) / NULLIF(CAST(a.total AS DOUBLE), 0) >= a.target AS met,
    CAST(a.good AS DOUBLE) AS good,
    CAST(a.total AS DOUBLE) AS total,
    a.no_data_seconds,
    a.excluded_seconds
FROM availability a
UNION ALL
SELECT
    t.service,
    t.kind,
    t.objective,
    CAST(NULL AS DOUBLE) AS target,
    t.target_seconds,
    CAST(t.good AS DOUBLE) / CAST(t.total AS DOUBLE) AS attained,
    CAST(NULL AS BOOLEAN) AS met,
    CAST(t.good AS DOUBLE) AS good,
    CAST(t.total AS DOUBLE) AS total,
    CAST(NULL AS BIGINT) AS no_data_seconds,
    CAST(NULL AS BIGINT) AS excluded_seconds
FROM tickets t
ORDER BY service, kind, objective
