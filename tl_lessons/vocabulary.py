"""The words of transfer learning, and which CIFAR-100 classes look like CIFAR-10 classes.

Blog posts about transfer learning use a handful of terms loosely. `GLOSSARY` gives each
one a single meaning, tied to something the kit does, so chapter 01 can show each term
as code. The CIFAR tables are facts about the two datasets, kept here so that a chapter can
print them even when only the synthetic practice data is on disk.

    >>> print(GLOSSARY["negative transfer"])
    Starting from the source makes the target result worse than training without it at the same budget.
    >>> LOOKALIKES["cat"]
    ('leopard', 'lion', 'tiger')
"""
from __future__ import annotations

from tl_lessons.errors import ConfigError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# CIFAR-100's 20 superclasses ("coarse labels") and their 5 classes each, as named in the
# dataset's own `meta` file; both lists are in label order (alphabetical).
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}
CIFAR100_CLASSES = tuple(sorted(name for names in CIFAR100_SUPERCLASSES.values() for name in names))

# No class is in both datasets, but some CIFAR-100 classes show the same kind of object at
# 32x32 pixels as a CIFAR-10 class: same body plan, shape or setting. This is a judgement,
# not a measurement; chapter 01 checks it against what the CIFAR-10 model predicts for them.
LOOKALIKES = {
    "airplane": ("rocket",),
    "automobile": ("pickup_truck", "bus"),
    "bird": (),  # CIFAR-100 has no birds
    "cat": ("leopard", "lion", "tiger"),
    "deer": ("cattle", "camel", "kangaroo"),
    "dog": ("wolf", "fox"),
    "frog": ("lizard", "turtle"),
    "horse": ("cattle", "camel"),
    "ship": (),  # nor any boats
    "truck": ("pickup_truck", "tractor", "streetcar"),
}


def display_name(name: str) -> str:
    """A CIFAR class or superclass name as a learner reads it: "maple_tree" -> "maple tree".

    >>> display_name("large_man-made_outdoor_things"), display_name("vehicles_1")
    ('large man-made outdoor things', 'vehicles 1')
    """
    return name.replace("_", " ")


def superclass_of(name: str) -> str:
    """The CIFAR-100 superclass of a class: `superclass_of("tiger")` is "large_carnivores"."""
    for superclass, names in CIFAR100_SUPERCLASSES.items():
        if name in names:
            return superclass
    raise ConfigError(f"{name!r} is not a CIFAR-100 class: pick one of {', '.join(CIFAR100_CLASSES[:5])}, ...")


def resembled_by(cifar100_class: str) -> tuple[str, ...]:
    """The CIFAR-10 classes a CIFAR-100 class looks like: `resembled_by("cattle")` is ("deer", "horse")."""
    superclass_of(cifar100_class)  # refuses names that are not CIFAR-100 classes
    return tuple(c for c in CIFAR10_CLASSES if cifar100_class in LOOKALIKES[c])


def lookalike_rows() -> list[dict]:
    """The resemblance table, one row per CIFAR-10 class, with each lookalike's superclass.

    >>> lookalike_rows()[3]
    {'cifar10': 'cat', 'cifar100': 'leopard, lion, tiger', 'superclasses': 'large_carnivores'}
    """
    rows = []
    for cifar10_class in CIFAR10_CLASSES:
        names = LOOKALIKES[cifar10_class]
        superclasses = dict.fromkeys(superclass_of(name) for name in names)  # ordered, no repeats
        rows.append({
            "cifar10": cifar10_class,
            "cifar100": ", ".join(names) or "(none)",
            "superclasses": ", ".join(superclasses) or "-",
        })
    return rows


# One meaning per term, each tied to what the kit does (the chapter shows every one as code).
GLOSSARY = {
    "domain": "The inputs and how they are distributed: for example, 32x32 colour photos of animals and vehicles.",
    "task": "What is predicted from the inputs: the label set and its meaning, e.g. 'which of these 10 classes'.",
    "source": "Where the model learns first: the source domain and task (here CIFAR-10, 50,000 labelled images, 10 classes).",
    "target": "Where we want the model to work: the target domain and task (here CIFAR-100, 100 classes, few labels).",
    "pre-training": "Training on the source, before the target is ever seen.",
    "fine-tuning": "Continuing to train pre-trained weights on the target. Guides often advise a smaller learning rate "
                   "than for training from scratch; the rate that works is measured on validation images, not assumed.",
    "feature extraction": "Freezing every pre-trained layer and training only a new head on their outputs; "
                          "with a single linear head it is called a linear probe.",
    "parameter transfer": "Reusing the learned weights themselves as the target model's starting values.",
    "feature transfer": "Reusing the representation the source model computes (the outputs of its shared layers) "
                        "as the input of a model for the target.",
    "knowledge transfer": "The umbrella term; one concrete form is distillation: a student model learns to match a "
                          "teacher's softened output probabilities (soft targets) instead of, or besides, hard labels.",
    "supervised transfer": "The source and the target both have labels; the target often has few. This kit's main setting.",
    "semi-supervised transfer": "The target has a few labelled and many unlabelled examples, and both are used "
                                "(e.g. the model labels the unlabelled ones and trains on its confident guesses).",
    "unsupervised transfer": "No target labels at all: e.g. adapting a labelled source to an unlabelled target domain, "
                             "or pre-training without labels (self-supervised) and transferring the features.",
    "shared layers": "The stages copied from the source model into the target model (FastNet: stem, stage1-stage3).",
    "new layers": "Layers created fresh for the target, at least the head whose outputs are the target's classes.",
    "negative transfer": "Starting from the source makes the target result worse than training without it at the same budget.",
    "catastrophic forgetting": "Fine-tuning on the target destroys what the model could do on the source.",
}


def glossary_text(terms=None) -> str:
    """The glossary (or some terms of it) as aligned lines: `print(glossary_text(["fine-tuning"]))`."""
    terms = list(GLOSSARY) if terms is None else list(terms)
    unknown = [term for term in terms if term not in GLOSSARY]
    if unknown:
        raise ConfigError(f"No glossary entry for {', '.join(unknown)}: the terms are {', '.join(GLOSSARY)}.")
    width = max(len(term) for term in terms)
    return "\n".join(f"{term:<{width}}  {GLOSSARY[term]}" for term in terms)
