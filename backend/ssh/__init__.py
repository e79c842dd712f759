"""`shiftdesk ssh`: the console served over SSH, keys as operators' identities."""
