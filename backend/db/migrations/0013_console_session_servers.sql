-- Which server holds each console session, so a server killed without signing its consoles
-- out (SIGKILL, power loss) ends them when it starts again, and only them: several
-- `shiftdesk ssh` and `shiftdesk web` servers may share one database.
--
-- server: the kind, host name and port, e.g. 'ssh@desk1:2222'. Only one process at a time
-- can listen on a port of a host, so a server that has bound its port knows that every open
-- row with its own name and another run was left by a run that is gone.
-- server_run: drawn by each run at start, so a server never ends its own new rows.
-- NULL in both for rows made before this migration (their owner cannot be told).
ALTER TABLE console_sessions
    ADD COLUMN server text,
    ADD COLUMN server_run text;
CREATE INDEX console_sessions_open_by_server ON console_sessions (server) WHERE ended_at IS NULL;
