import json

from django import forms
from django.urls import reverse
from django.utils.html import format_html

from riskapp.artifacts.cards import architecture_problem, preprocessing_problem
from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact
from riskapp.artifacts.prechecks import upload_refusal
from riskapp.artifacts.selectors import models_not_refused
from riskapp.user_json import user_json_parse

CARD_FIELDS = [
    "name",
    "version",
    "role",
    "architecture",
    "num_classes",
    "parent",
    "previous_version",
    "teacher_name",
    "teacher_url",
    "teacher_sha256",
    "teacher_licence",
    "class_names",
    "preprocessing",
    "input_min",
    "input_max",
]


# A classifier has at least two classes; the upper bound keeps the card's number a plausible output size.
MIN_CLASSES, MAX_CLASSES = 2, 100_000


def valid_num_classes(value: int | None) -> int | None:
    """The number of classes, or a ValidationError saying the accepted range (the intake needs at least 2)."""
    if value is not None and not MIN_CLASSES <= value <= MAX_CLASSES:
        raise forms.ValidationError(
            f"A classifier has from {MIN_CLASSES} to {MAX_CLASSES} classes; give the number of its outputs, "
            "or leave it empty to use the architecture's."
        )
    return value


class ArchitectureInput(forms.TextInput):
    """A text field that searches the catalogue as the user types (1,400+ names: never one long list).

    The page's htmx fills the linked <datalist> from the project's architecture search; without
    JavaScript it is a plain text field, checked on submit with the closest names in the error."""

    def __init__(self, search_url: str = "", attrs=None):
        super().__init__(attrs)
        self.search_url = search_url

    def render(self, name, value, attrs=None, renderer=None):
        options = f"{(attrs or {}).get('id', name)}-options"
        attrs = {
            **(attrs or {}),
            "list": options,
            "hx-get": self.search_url,
            "hx-trigger": "input changed delay:200ms, focus once",
            "hx-target": f"#{options}",
            "hx-swap": "innerHTML",
        }
        field = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="{}"></datalist>', field, options)


class ModelCardForm(forms.ModelForm):
    teacher_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Where the external teacher came from."
    )
    class_names = forms.CharField(required=False, help_text="Comma-separated, in output order.")
    input_shape = forms.CharField(required=False, help_text="One sample's shape, e.g. 1,8,8 (filled in by the intake).")
    preprocessing = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='JSON overriding the library\'s defaults, e.g. {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}; '
        "keys: input_size, interpolation, crop_pct, scale, mean, std. Empty: the library's own config.",
    )

    class Meta:
        model = ModelArtifact
        fields = CARD_FIELDS

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["architecture"] = forms.CharField(
            required=False,
            max_length=100,
            widget=ArchitectureInput(
                search_url=reverse("projects:artifacts:architectures", kwargs={"project_id": project.pk}),
                attrs={"placeholder": "e.g. timm/resnet50, torchvision/resnet18, huggingface", "autocomplete": "off"},
            ),
            help_text="Which network the weights belong to: type to search the catalogue (every timm model, "
            "torchvision's classifiers, this project's small networks); huggingface for a Hugging Face model "
            "folder zip; empty for ONNX.",
        )
        others = models_not_refused(project=project).exclude(pk=self.instance.pk).order_by("name")
        self.fields["parent"].queryset = others
        self.fields["parent"].label = "Teacher (in this project)"
        self.fields["previous_version"].queryset = others
        for name in ("parent", "previous_version"):
            self.fields[name].error_messages["invalid_choice"] = "Choose another model of this project."
        self.fields["name"].required = False
        if self.instance.pk:
            self.initial["class_names"] = ", ".join(self.instance.class_names or [])
            self.initial["input_shape"] = ",".join(map(str, self.instance.input_shape or []))
            self.initial["preprocessing"] = (
                json.dumps(self.instance.preprocessing or {}) if self.instance.preprocessing else ""
            )

    def clean_architecture(self):
        name = self.cleaned_data["architecture"].strip()
        problem = architecture_problem(name)
        if problem:
            raise forms.ValidationError(problem)
        return name

    def clean_num_classes(self):
        return valid_num_classes(self.cleaned_data["num_classes"])

    def clean_class_names(self):
        return [name.strip() for name in self.cleaned_data["class_names"].split(",") if name.strip()]

    def clean_input_shape(self):
        text = self.cleaned_data["input_shape"].replace("×", ",").replace("x", ",").strip()
        if not text:
            return None
        try:
            shape = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError("Give the shape as whole numbers, e.g. 3,32,32.") from None
        if not 1 <= len(shape) <= 3 or any(dim < 1 for dim in shape):
            raise forms.ValidationError("One sample's shape has 1 to 3 positive dimensions, e.g. 3,32,32.")
        return shape

    def clean_preprocessing(self):
        text = self.cleaned_data["preprocessing"].strip()
        if not text:
            return {}
        value = user_json_parse(text)
        if not isinstance(value, dict):
            raise forms.ValidationError('Give an object, e.g. {"scale": 255}.')
        return value

    def clean(self):
        data = super().clean()
        low, high = data.get("input_min"), data.get("input_max")
        if low is not None and high is not None and low >= high:
            self.add_error("input_max", "The valid input range must have its maximum above its minimum.")
        problem = preprocessing_problem(data.get("architecture", ""), data.get("preprocessing"))
        if problem:
            self.add_error("preprocessing", problem)
        sha = data.get("teacher_sha256", "")
        if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower())):
            self.add_error("teacher_sha256", "A SHA-256 is 64 hexadecimal characters.")
        return data


def upload_precheck(upload, *, kind: str):
    """The upload, or a ValidationError when its name or first bytes already say it cannot be a `kind`."""
    refusal = upload_refusal(upload, kind=kind)
    if refusal:
        raise forms.ValidationError(refusal)
    return upload


class ModelUploadForm(ModelCardForm):
    upload = forms.FileField(
        label="Model file",
        help_text="safetensors, a PyTorch state_dict (.pt/.pth), a Hugging Face model folder as one zip (config.json + "
        "model.safetensors) or ONNX.",
    )

    class Meta(ModelCardForm.Meta):
        fields = ["upload", *CARD_FIELDS]

    def clean_upload(self):
        return upload_precheck(self.cleaned_data["upload"], kind="model")


class DatasetUploadForm(forms.Form):
    upload = forms.FileField(
        label="Dataset file",
        help_text=".npz with arrays x and y (and poison_mask, optional), or a zip of an image folder: one "
        "sub-folder per class, JPEG / PNG / WebP images.",
    )
    name = forms.CharField(max_length=200, required=False)
    purpose = forms.ChoiceField(choices=DatasetPurpose.choices)
    for_model = forms.ModelChoiceField(
        queryset=ModelArtifact.objects.none(),
        required=False,
        label="Prepare images for",
        empty_label="— 224×224 RGB, folders in alphabetical order —",
        help_text="For an image folder: resize and crop the images as this model's pre-processing says, and match "
        "the folder names to its class names. Ignored for an .npz.",
        error_messages={"invalid_choice": "Choose a model of this project that has passed intake (status “ready”)."},
    )

    def __init__(self, *args, project=None, **kwargs):
        # Its own element ids: the model upload form beside it on the page has fields named upload and name too.
        super().__init__(*args, auto_id="id_dataset_%s", **kwargs)
        if project is not None:
            self.fields["for_model"].queryset = ModelArtifact.objects.filter(
                project=project, status=IntakeStatus.READY
            ).order_by("name", "-id")

    def clean_upload(self):
        return upload_precheck(self.cleaned_data["upload"], kind="dataset")


class ValidationForm(forms.Form):
    dataset = forms.ModelChoiceField(
        queryset=DatasetArtifact.objects.none(),
        error_messages={"invalid_choice": "Choose a dataset of this project that has passed intake (status “ready”)."},
    )
    sample_limit = forms.IntegerField(
        min_value=0, max_value=1_000_000, initial=2000, help_text="How many samples to evaluate (0: all)."
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].queryset = DatasetArtifact.objects.filter(project=project, status=IntakeStatus.READY)
