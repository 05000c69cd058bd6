"""Views of the issues app, one module per area (navigator, browse)."""
