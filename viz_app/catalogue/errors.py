"""vit_core's error sentences in the app's other languages, keyed by the error's ``key`` (``vit_core.errors``).

The English is the error's own message, written once in vit_core; here are only the translations, with the same
``{fields}`` as the error's ``values``. An error without a key, or with a key not listed here, is shown in English.
The ones listed are those a person using the app can cause: an image or a checkpoint file they chose, or a choice
on the "Switch off heads & tokens" page.
"""

from __future__ import annotations

KO: dict[str, str] = {
    "image.missing": "{path}에 이미지 파일이 없습니다. 경로를 확인하세요.",
    "image.file_too_large": "{name} 파일이 {limit} MB보다 큽니다. 더 작은 이미지를 사용하세요.",
    "image.empty": "파일이 비어 있습니다. 이미지 파일(PNG, JPEG, WebP, BMP, GIF 또는 TIFF)을 선택하세요.",
    "image.too_large": "이미지가 {limit} MB보다 큽니다. 더 작은 이미지를 사용하세요.",
    "image.unreadable": "이 파일은 Pillow가 읽을 수 있는 이미지가 아닙니다. PNG, JPEG, WebP, BMP, GIF 또는 TIFF 파일을 선택하세요.",
    "image.unopenable": "이 이미지를 열 수 없습니다({kind}). 다른 파일을 사용해 보세요.",
    "image.too_many_pixels": "이미지가 {width} x {height} 픽셀로 {limit}메가픽셀을 넘습니다. 먼저 크기를 줄이세요.",
    "image.elongated": "이미지가 {width} x {height} 픽셀로 너무 길쭉해서 패치로 나눌 수 없습니다. "
    "가로세로 비율이 {ratio}:1 미만이 되도록 잘라 주세요.",
    "image.damaged": "이미지가 손상되었거나 잘려 있습니다({kind}). 다시 저장하거나 다시 내려받으세요.",
    "checkpoint.missing": "{path}에 체크포인트 파일이 없습니다. 경로를 확인하세요.",
    "checkpoint.suffix": "{name}은(는) 지원하는 체크포인트가 아닙니다. {suffixes} 중 하나를 사용하세요.",
    "checkpoint.pickled": "{name}에는 텐서 말고도 pickle 객체가 들어 있어, 실행하지 않고 거부했습니다. "
    "가중치를 safetensors나 torch.save(model.state_dict())로 저장하세요.",
    "checkpoint.unreadable": "{name}을(를) 읽을 수 없습니다({detail}). 파일이 온전한지 확인하세요.",
    "checkpoint.not_state_dict": "{name}에 텐서로 된 state dict가 없습니다. model.state_dict()를 저장하세요.",
    "ablation.all_tokens": "모든 토큰이 꺼지게 됩니다. 토큰을 하나 이상 남겨 두세요.",
    "ablation.not_separable": "블록 {block}은(는) 프로젝션 전에 헤드 출력을 함께 정규화하거나 게이트하므로 헤드 하나만 끌 수 "
    "없습니다. scale-norm이나 게이트 어텐션이 없는 모델을 고르세요.",
}

ERRORS: dict[str, dict[str, str]] = {"ko": KO}
