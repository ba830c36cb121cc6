from django.contrib import admin

from riskapp.jobs.models import Job, JobFile


class JobFileInline(admin.TabularInline):
    model = JobFile
    extra = 0
    readonly_fields = ("name", "file", "size", "created_at")


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "kind", "queue", "status", "attempts", "progress", "worker", "created_at")
    list_filter = ("status", "kind", "queue")
    search_fields = ("project__name", "kind", "worker")
    readonly_fields = ("created_at", "enqueued_at", "started_at", "finished_at", "heartbeat_at")
    inlines = [JobFileInline]
