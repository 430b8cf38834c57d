"""The portal's authentication backend: a password and an email, phone, card number, member number or username."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend

from .identifiers import login_user_id


class MemberLoginBackend(ModelBackend):
    """Django's ModelBackend (permissions included) with the login looked up by any of a member's identifiers.

    Exactly one password hash per attempt, found or not (ModelBackend's defence against telling existing
    accounts by their timing), so it replaces ModelBackend rather than running before it."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        user_model = get_user_model()
        user_id = login_user_id(username)
        user = user_model._default_manager.filter(pk=user_id).first() if user_id is not None else None
        if user is None:
            user_model().set_password(password)  # the same cost as a real check
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        """The logged-in user of a request, with their member read in the same query: every portal page asks for
        `request.user.member` (members.selectors.portal_member), so this saves a query on each."""
        user = get_user_model()._default_manager.select_related("member").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None
