"""IO managers: how downstream assets load what upstream assets wrote."""
