"""The "Token norms & sinks" page, its figures and the lesson's registers step, in English and Korean."""

from __future__ import annotations

__all__ = ["EN", "KO"]

EN: dict[str, str] = {
    "inside.rule": "Outliers: tokens whose norm at the output of {layer} is {rule}. Large ViTs turn a few background "
    "patches into global stores with such norms (Darcet et al. 2024, “Vision Transformers Need Registers”).",
    "inside.rule_absolute": "above {cut} (Darcet et al.'s cut for DINOv2 ViT-g)",
    "inside.rule_mad": "above the median + {k} MAD of that layer's patch norms (a robust cut: no absolute cut is "
    "known for this model)",
    "inside.norms_title": "Token norms",
    "inside.norm_map": "Token norm, {layer}",
    "inside.histogram": "Patch norms, {layer}",
    "inside.norm_axis": "norm",
    "inside.count_axis": "patches",
    "inside.cut_label": "cut {cut}",
    "inside.above": "{n} patches above the cut ({cut}) at {layer}, ringed on the map; triangles mark the prefix tokens.",
    "inside.outliers_title": "Outliers ({n})",
    "inside.col_token": "token",
    "inside.col_first": "first layer above the cut",
    "inside.col_norm": "norm",
    "inside.col_cls": "class token's attention (last layer)",
    "inside.no_outliers": "No token is {rule}: this model and image show no high-norm outlier.",
    "inside.sinks_title": "Attention sinks",
    "inside.sink_map": "Attention received, {layer}, {head}",
    "inside.sink_axis": "mean attention",
    "inside.sink_caption": "Each patch's share of the attention, the mean over every query. Prefix tokens receive "
    "{prefix}; most: {top}.",
    "inside.share_axis": "share of attention",
    "inside.share_title": "Where attention goes, per layer (mean of heads)",
    "inside.to_prefix": "prefix tokens",
    "inside.to_outliers": "outlier patches",
    "inside.prefix_heads": "Share of attention on the prefix tokens, per head",
    "inside.hover_bin": "norm {norm}: {count} patches",
    "inside.hover_share": "{name}, layer {layer}: {share}",
    "inside.compare_title": "With and without registers",
    "inside.compare": "Show a second model beside this one",
    "inside.compare_help": "The same statistics for another model on the same image, e.g. DINOv2 and its twin "
    "trained with registers.",
    "inside.compare_off": "Turn it on to run a second model on this image.",
    "inside.other": "Second model",
    "inside.random": "Random weights",
    "inside.random_help": "Random weights need no download (a random model has no learned outliers; it shows the "
    "layout).",
    "inside.layout": "{registers} registers · {n} outliers",
    "lesson.registers.title": "A token that stores, and what a register does",
    "lesson.registers.text": "In large ViTs trained long (DINOv2, OpenCLIP, DeiT-III) a few background patches stop "
    "describing their patch: their output norm jumps far above the rest, and the class token's attention goes to "
    "them, as to a store of global information (Darcet et al. 2024, “Vision Transformers Need Registers”). Give "
    "the model a few extra tokens that belong to no patch, *registers*, and it keeps that information there "
    "instead: the outliers disappear and the attention maps clean up. This model's prefix tokens: {prefix}.",
    "lesson.registers.q": "Does a token of this model stand out by its norm in the last layer, on this image?",
    "lesson.registers.a_yes": "yes, at least one",
    "lesson.registers.a_no": "no, none",
    "lesson.registers.found": "{token} stands out: norm {norm} against a cut of {cut}, above the cut from layer "
    "{first} on; the class token gives it {cls} of its attention in the last layer.",
    "lesson.registers.none": "No token stands out here: the highest patch norm is {top}, the cut {cut}, so this "
    "model ({depth} layers, {dim} wide) shows no such store on this image. Darcet et al. saw them in large models "
    "trained long (ViT-L, ViT-g), not in small ones. The page “{page}” runs the same test on any model, e.g. DINOv2 "
    "beside its twin with registers.",
    "lesson.registers.share": "Its {n} registers and the other prefix tokens receive {share} of the last layer's "
    "attention (the mean over queries and heads).",
    "lesson.registers.no_registers": "It has no registers: its prefix tokens ({prefix}) receive {share} of the last "
    "layer's attention (the mean over queries and heads).",
}

KO: dict[str, str] = {
    "inside.rule": "이상치: {layer} 출력에서 노름이 {rule}인 토큰. 큰 ViT는 일부 배경 패치를 이런 노름을 가진 전역 "
    "저장소로 바꿉니다(Darcet et al. 2024, “Vision Transformers Need Registers”).",
    "inside.rule_absolute": "{cut}보다 큰 경우(DINOv2 ViT-g에 대한 Darcet 등의 기준)",
    "inside.rule_mad": "그 레이어 패치 노름의 중앙값 + {k} MAD보다 큰 경우(강건한 기준: 이 모델의 절대 기준은 "
    "알려져 있지 않음)",
    "inside.norms_title": "토큰 노름",
    "inside.norm_map": "토큰 노름, {layer}",
    "inside.histogram": "패치 노름, {layer}",
    "inside.norm_axis": "노름",
    "inside.count_axis": "패치 수",
    "inside.cut_label": "기준 {cut}",
    "inside.above": "{layer}에서 기준({cut})을 넘는 패치 {n}개, 지도에 원으로 표시; 삼각형은 접두 토큰입니다.",
    "inside.outliers_title": "이상치 ({n})",
    "inside.col_token": "토큰",
    "inside.col_first": "기준을 처음 넘는 레이어",
    "inside.col_norm": "노름",
    "inside.col_cls": "클래스 토큰의 어텐션(마지막 레이어)",
    "inside.no_outliers": "노름이 {rule}인 토큰이 없습니다: 이 모델과 이미지에는 고노름 이상치가 없습니다.",
    "inside.sinks_title": "어텐션 싱크",
    "inside.sink_map": "받은 어텐션, {layer}, {head}",
    "inside.sink_axis": "평균 어텐션",
    "inside.sink_caption": "모든 쿼리에 대해 평균한, 각 패치가 받는 어텐션 몫. 접두 토큰이 받는 몫 {prefix}; "
    "가장 많이 받는 토큰: {top}.",
    "inside.share_axis": "어텐션 몫",
    "inside.share_title": "레이어별 어텐션이 가는 곳(헤드 평균)",
    "inside.to_prefix": "접두 토큰",
    "inside.to_outliers": "이상치 패치",
    "inside.prefix_heads": "헤드별 접두 토큰이 받는 어텐션 몫",
    "inside.hover_bin": "노름 {norm}: 패치 {count}개",
    "inside.hover_share": "{name}, 레이어 {layer}: {share}",
    "inside.compare_title": "레지스터가 있을 때와 없을 때",
    "inside.compare": "두 번째 모델을 옆에 표시",
    "inside.compare_help": "같은 이미지에서 다른 모델의 같은 통계, 예: DINOv2와 레지스터로 학습한 쌍둥이 모델.",
    "inside.compare_off": "켜면 이 이미지에서 두 번째 모델을 실행합니다.",
    "inside.other": "두 번째 모델",
    "inside.random": "무작위 가중치",
    "inside.random_help": "무작위 가중치는 내려받을 필요가 없습니다(무작위 모델에는 학습된 이상치가 없고, 토큰 "
    "배치만 보여 줍니다).",
    "inside.layout": "레지스터 {registers}개 · 이상치 {n}개",
    "lesson.registers.title": "저장하는 토큰, 그리고 레지스터가 하는 일",
    "lesson.registers.text": "오래 학습한 큰 ViT(DINOv2, OpenCLIP, DeiT-III)에서는 일부 배경 패치가 자기 패치를 "
    "설명하지 않게 됩니다: 출력 노름이 다른 토큰보다 훨씬 커지고, 클래스 토큰의 어텐션이 전역 정보의 저장소처럼 그 "
    "토큰으로 갑니다(Darcet et al. 2024, “Vision Transformers Need Registers”). 어떤 패치에도 속하지 않는 추가 "
    "토큰, 즉 *레지스터*를 주면 모델은 그 정보를 레지스터에 두고, 이상치는 사라지며 어텐션 맵이 깨끗해집니다. 이 "
    "모델의 접두 토큰: {prefix}.",
    "lesson.registers.q": "이 이미지에서, 마지막 레이어에 노름이 두드러지게 큰 토큰이 있을까요?",
    "lesson.registers.a_yes": "네, 하나 이상",
    "lesson.registers.a_no": "아니요, 없음",
    "lesson.registers.found": "{token}이(가) 두드러집니다: 노름 {norm}, 기준 {cut}; 레이어 {first}부터 기준을 "
    "넘고, 마지막 레이어에서 클래스 토큰 어텐션의 {cls}를 받습니다.",
    "lesson.registers.none": "여기서는 두드러지는 토큰이 없습니다: 가장 큰 패치 노름은 {top}, 기준은 {cut}이므로, 이 "
    "모델({depth}개 레이어, 너비 {dim})은 이 이미지에서 그런 저장소를 보이지 않습니다. Darcet 등은 오래 학습한 큰 "
    "모델(ViT-L, ViT-g)에서 이를 보았고 작은 모델에서는 보지 못했습니다. “{page}” 페이지는 어떤 모델에서든 같은 "
    "검사를 합니다, 예: DINOv2와 레지스터가 있는 쌍둥이 모델.",
    "lesson.registers.share": "레지스터 {n}개와 다른 접두 토큰이 마지막 레이어 어텐션의 {share}를 받습니다(쿼리와 "
    "헤드에 대한 평균).",
    "lesson.registers.no_registers": "레지스터가 없습니다: 접두 토큰({prefix})이 마지막 레이어 어텐션의 {share}를 "
    "받습니다(쿼리와 헤드에 대한 평균).",
}
