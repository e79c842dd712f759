"""Platform connectors: listen to Mastodon, Bluesky and pushed webhooks; publish replies and DMs."""
