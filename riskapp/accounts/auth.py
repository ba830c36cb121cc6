"""Token authentication for the API: knox's hashed, expiring tokens, with their last use recorded."""

from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox.auth import TokenAuthentication

from riskapp.accounts.services import api_token_touch


class ApiTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <secret>`. Expired tokens are deleted by knox and refused (401)."""

    def validate_user(self, auth_token):
        user, auth_token = super().validate_user(auth_token)
        api_token_touch(auth_token=auth_token)
        return user, auth_token


class ApiTokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of ApiTokenAuthentication (knox's, under this class)."""

    target_class = "riskapp.accounts.auth.ApiTokenAuthentication"
    name = "tokenAuth"
