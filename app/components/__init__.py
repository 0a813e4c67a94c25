"""Small reusable widgets and plotly figure builders shared by several pages."""
