-- alerts-fixture.sql - portmilter.alerts and portmilter.alert_deliveries
-- exactly as sql/007_watch.sql (the watch daemon's migration) defines
-- them, for tests/watch/notify*.sh while that migration is not in the
-- tree (tests/watch/notify-lib.sh loads this file only then).
CREATE SCHEMA IF NOT EXISTS portmilter;
CREATE TABLE portmilter.alerts (
  alert_id bigserial PRIMARY KEY,
  fired_at timestamptz NOT NULL DEFAULT now(),
  detector text NOT NULL, subject_kind text NOT NULL CHECK (subject_kind IN ('user','address')),
  subject text NOT NULL, state text NOT NULL CHECK (state IN ('fired','resolved')),
  summary text NOT NULL, evidence jsonb NOT NULL,
  suspended boolean NOT NULL DEFAULT false, watch_node text NOT NULL);
CREATE TABLE portmilter.alert_deliveries (
  alert_id bigint NOT NULL REFERENCES portmilter.alerts ON DELETE CASCADE,
  channel text NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','sent','failed')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt timestamptz NOT NULL DEFAULT now(),
  last_error text, sent_at timestamptz, PRIMARY KEY (alert_id, channel));
