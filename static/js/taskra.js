// Taskra: small progressive enhancements; every page works without JavaScript.
