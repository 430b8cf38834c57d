"""The `portal` tag library ({% load portal %}): the site's portal registry, found here because Django looks
for tag libraries only in installed apps and `loyalty_site.portal` is a module, not an app. members, the
lowest app, carries it; the tags themselves live beside the registry."""

from loyalty_site.portal import register  # noqa: F401
