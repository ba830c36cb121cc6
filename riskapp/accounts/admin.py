from django.contrib import admin
from knox.models import AuthToken

from riskapp.accounts.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Staff can see and revoke (delete) tokens; creating one is the user's own business, on their profile."""

    list_display = ("name", "user", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "user__username")
    readonly_fields = ("auth_token", "user", "name", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        obj.auth_token.delete()

    def delete_queryset(self, request, queryset):
        AuthToken.objects.filter(details__in=queryset).delete()
