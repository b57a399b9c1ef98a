# Two front-door commands: `make demo` (set up + main job on easy-VQA) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BEIT3_SPM ?= $(abspath ../shared/beit3.spm)
export BEIT3_SPM

.PHONY: setup test lint demo clean android-core android-test

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps torchscale==0.3.0
	touch $@

setup: $(VENV)/.installed

test: setup android-test
	$(PY) -m ruff check .
	$(PY) -m pytest -q

lint: setup
	$(PY) -m ruff check .

# The main job on easy-VQA, checking its own targets; options: make demo DEMO_ARGS="--out DIR".
demo: setup
	$(PY) scripts/easy_vqa_demo.py $(DEMO_ARGS)

clean:
	rm -rf $(VENV) android_demo/core/build

# android_demo/core without Gradle or an Android SDK: kotlinc from npm, JUnit 4 and org.json
# (Android's, from Debian). The jar is rebuilt only when a source changes.
KOTLIN_VERSION := 2.4.20
ANDROID_TOOLS := android_demo/.tools
KOTLINC := $(ANDROID_TOOLS)/node_modules/kotlin-compiler/bin/kotlinc
JAVA_LIBS := /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar /usr/share/java/com.android.json.jar
CORE_BUILD := android_demo/core/build
CORE_JAR := $(CORE_BUILD)/vqa-core.jar
CORE_SOURCES := $(shell find android_demo/core/src/main/kotlin -name '*.kt' 2>/dev/null)
CORE_TESTS := $(shell find android_demo/core/src/test/kotlin -name '*.kt' 2>/dev/null)
CORE_TEST_CLASSES := $(addprefix org.vizwiz.vqa.core.,$(filter %Test,$(basename $(notdir $(CORE_TESTS)))))
GOLDEN_BUNDLE := $(CORE_BUILD)/golden-bundle
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
java_cp = $(subst $(eval) ,:,$(1))

$(KOTLINC):
	npm install --prefix $(ANDROID_TOOLS) --no-save --no-audit --no-fund kotlin-compiler@$(KOTLIN_VERSION)
	touch $@

$(JAVA_LIBS) &:
	$(SUDO) apt-get update -qq
	$(SUDO) apt-get install -y -qq --no-install-recommends junit4 libandroid-json-java \
		$(if $(shell command -v jar),,default-jdk-headless)

$(CORE_JAR): $(CORE_SOURCES) | $(KOTLINC) $(JAVA_LIBS)
	rm -rf $(CORE_BUILD)/json $(CORE_BUILD)/vqa-core.tmp.jar && mkdir -p $(CORE_BUILD)/json
	$(KOTLINC) -nowarn -cp /usr/share/java/com.android.json.jar $(CORE_SOURCES) \
		-include-runtime -d $(CORE_BUILD)/vqa-core.tmp.jar
	cd $(CORE_BUILD)/json && jar xf /usr/share/java/com.android.json.jar org
	jar uf $(CORE_BUILD)/vqa-core.tmp.jar -C $(CORE_BUILD)/json org
	mv $(CORE_BUILD)/vqa-core.tmp.jar $@

$(CORE_BUILD)/test-classes/.built: $(CORE_JAR) $(CORE_TESTS) | $(JAVA_LIBS)
	rm -rf $(CORE_BUILD)/test-classes
	$(KOTLINC) -nowarn -cp $(call java_cp,$(CORE_JAR) $(JAVA_LIBS)) $(CORE_TESTS) -d $(CORE_BUILD)/test-classes
	touch $@

$(GOLDEN_BUNDLE)/manifest.json: scripts/write_golden_vectors.py tests/golden/tokenizer_small.model | setup
	rm -rf $(GOLDEN_BUNDLE) && mkdir -p $(CORE_BUILD)
	PYTHONPATH=. OMP_NUM_THREADS=1 $(PY) scripts/write_golden_vectors.py --bundle $(GOLDEN_BUNDLE) > $(CORE_BUILD)/golden-bundle.log

android-core: $(CORE_JAR)

android-test: $(CORE_BUILD)/test-classes/.built $(GOLDEN_BUNDLE)/manifest.json
	java -Dvqa.golden=tests/golden -Dvqa.bundle=$(GOLDEN_BUNDLE) \
		-cp $(call java_cp,$(CORE_BUILD)/test-classes $(CORE_JAR) $(JAVA_LIBS)) \
		org.junit.runner.JUnitCore $(CORE_TEST_CLASSES)
