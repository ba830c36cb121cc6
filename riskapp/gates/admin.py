from django.contrib import admin

from riskapp.gates.models import QualityGate


@admin.register(QualityGate)
class QualityGateAdmin(admin.ModelAdmin):
    list_display = ("project", "kind", "enabled", "updated_at")
    list_filter = ("kind", "enabled")
