from django.contrib import admin

from riskapp.assessments.models import AssessmentVersion, Evidence, RiskTreatment


@admin.register(AssessmentVersion)
class AssessmentVersionAdmin(admin.ModelAdmin):
    list_display = ("project", "number", "status", "submitted_by", "reviewed_by", "updated_at")
    list_filter = ("status",)
    search_fields = ("project__name",)
    # Answers and sign-off change only through the workflow, so that the audit trail stays whole.
    readonly_fields = [field.name for field in AssessmentVersion._meta.fields]


@admin.register(RiskTreatment)
class RiskTreatmentAdmin(admin.ModelAdmin):
    list_display = ("project", "threat_id", "treatment", "owner", "expires_on", "decided_by")
    list_filter = ("treatment",)
    search_fields = ("project__name", "threat_id")


@admin.register(Evidence)
class EvidenceAdmin(admin.ModelAdmin):
    list_display = ("project", "kind", "value", "source", "recorded_at")
    list_filter = ("kind",)
    search_fields = ("project__name", "source")
