"""`shiftdesk web`: the operator console in a browser tab, behind a sign-in.

textual-serve runs one console process per browser session and relays its
screen over a WebSocket; this package puts a sign-in in front of every route
(an operator token, or a one-time link), starts each console as the operator
who signed in (with a console-session credential of their own, handed over in
the environment), and ends it when that operator is revoked.
"""
