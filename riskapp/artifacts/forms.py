import json

from django import forms

from riskapp.artifacts.models import DatasetArtifact, DatasetPurpose, IntakeStatus, ModelArtifact

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


def architecture_choices() -> list[tuple[str, str]]:
    from attacks.architectures import catalogue  # reads the catalogue's data file; builds nothing

    return [("", "— none: an ONNX file —")] + [
        (entry["name"], f"{entry['name']} ({'×'.join(map(str, entry['input_shape']))})") for entry in catalogue()
    ]


class ModelCardForm(forms.ModelForm):
    teacher_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Where the external teacher came from."
    )
    class_names = forms.CharField(required=False, help_text="Comma-separated, in output order.")
    input_shape = forms.CharField(required=False, help_text="One sample's shape, e.g. 1,8,8 (filled in by the intake).")
    preprocessing = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='JSON, e.g. {"scale": 255, "mean": [0.5], "std": [0.5]}',
    )

    class Meta:
        model = ModelArtifact
        fields = CARD_FIELDS

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["architecture"] = forms.ChoiceField(
            choices=architecture_choices(), required=False, help_text="Which network the weights belong to."
        )
        others = ModelArtifact.objects.filter(project=project).exclude(pk=self.instance.pk).order_by("name")
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
        try:
            value = json.loads(text)
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('Give an object, e.g. {"scale": 255}.')
        return value

    def clean(self):
        data = super().clean()
        low, high = data.get("input_min"), data.get("input_max")
        if low is not None and high is not None and low >= high:
            self.add_error("input_max", "The valid input range must have its maximum above its minimum.")
        sha = data.get("teacher_sha256", "")
        if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower())):
            self.add_error("teacher_sha256", "A SHA-256 is 64 hexadecimal characters.")
        return data


class ModelUploadForm(ModelCardForm):
    upload = forms.FileField(label="Model file", help_text="safetensors, a PyTorch state_dict (.pt/.pth) or ONNX.")

    class Meta(ModelCardForm.Meta):
        fields = ["upload", *CARD_FIELDS]


class DatasetUploadForm(forms.Form):
    upload = forms.FileField(label="Dataset file", help_text=".npz with arrays x and y (and poison_mask, optional).")
    name = forms.CharField(max_length=200, required=False)
    purpose = forms.ChoiceField(choices=DatasetPurpose.choices)

    def __init__(self, *args, **kwargs):
        # Its own element ids: the model upload form beside it on the page has fields named upload and name too.
        super().__init__(*args, auto_id="id_dataset_%s", **kwargs)


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
