from django.contrib import admin

from riskapp.artifacts.models import DatasetArtifact, Finding, ModelArtifact


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "project", "role", "format", "status", "created_at")
    list_filter = ("status", "role", "format")
    search_fields = ("name", "project__name", "sha256")
    readonly_fields = ("file", "weights", "sha256", "size", "format", "scan", "intake", "intake_job")


@admin.register(DatasetArtifact)
class DatasetArtifactAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "purpose", "status", "created_at")
    list_filter = ("status", "purpose")
    search_fields = ("name", "project__name", "sha256")
    readonly_fields = ("file", "normalised", "sha256", "size", "format", "scan", "intake", "intake_job")


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("title", "project", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("title", "project__name")
