# Two front-door commands: `make demo` (set up + main job on easy-VQA) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BEIT3_SPM ?= $(abspath ../shared/beit3.spm)
export BEIT3_SPM

.PHONY: setup test lint demo clean android-core android-test android-wrapper

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

# The arm64 userland that scores phone bundles on emulated arm64 kernels (docs/arm64.md), built
# once as root into $$VQA_ARM64_RUNTIME (default ~/.cache/vizwiz-beit3/arm64-runtime).
.PHONY: arm64-runtime
arm64-runtime: setup
	PYTHONPATH=. $(PY) scripts/build_arm64_runtime.py

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
CLI_SOURCES := $(shell find android_demo/cli/src/main/kotlin -name '*.kt' 2>/dev/null)
CORE_CLASSES := $(CORE_BUILD)/core-classes
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

# The library the app packages (core, no javax/java.awt) is compiled on its own; the command line
# (cli, which decodes image files with javax.imageio) is compiled against it into the jar.
$(CORE_CLASSES)/.built: $(CORE_SOURCES) | $(KOTLINC) $(JAVA_LIBS)
	rm -rf $(CORE_CLASSES)
	$(KOTLINC) -nowarn -module-name vqa-core -cp /usr/share/java/com.android.json.jar $(CORE_SOURCES) -d $(CORE_CLASSES)
	touch $@

$(CORE_JAR): $(CORE_CLASSES)/.built $(CLI_SOURCES)
	rm -rf $(CORE_BUILD)/json $(CORE_BUILD)/vqa-core.tmp.jar && mkdir -p $(CORE_BUILD)/json
	$(KOTLINC) -nowarn -module-name vqa-cli -cp $(CORE_CLASSES):/usr/share/java/com.android.json.jar $(CLI_SOURCES) \
		-include-runtime -d $(CORE_BUILD)/vqa-core.tmp.jar
	cd $(CORE_BUILD)/json && jar xf /usr/share/java/com.android.json.jar org
	jar uf $(CORE_BUILD)/vqa-core.tmp.jar -C $(CORE_CLASSES) org -C $(CORE_CLASSES) META-INF -C $(CORE_BUILD)/json org
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

# The Gradle wrapper (gradlew, gradlew.bat, gradle/wrapper/gradle-wrapper.jar) is not kept in git.
# `make android-wrapper` takes Gradle's own wrapper files from an npm package that ships them
# unchanged (React Native's app template: Gradle 9.4.1's wrapper jar, its sha256 checked below);
# the committed gradle-wrapper.properties picks the distribution the wrapper downloads (Gradle
# 8.14.3, with its published distributionSha256Sum).
WRAPPER_PACKAGE := @react-native-community/template@0.87.2
WRAPPER_JAR_SHA256 := 55243ef57851f12b070ad14f7f5bb8302daceeebc5bce5ece5fa6edb23e1145c
WRAPPER_FROM := $(ANDROID_TOOLS)/wrapper/package/template/android

android-wrapper: android_demo/gradle/wrapper/gradle-wrapper.jar

android_demo/gradle/wrapper/gradle-wrapper.jar:
	rm -rf $(ANDROID_TOOLS)/wrapper && mkdir -p $(ANDROID_TOOLS)/wrapper
	cd $(ANDROID_TOOLS)/wrapper && npm pack --silent $(WRAPPER_PACKAGE) > package.name \
		&& tar xzf "$$(cat package.name)" package/template/android/gradlew \
		package/template/android/gradlew.bat package/template/android/gradle/wrapper/gradle-wrapper.jar
	echo "$(WRAPPER_JAR_SHA256)  $(WRAPPER_FROM)/gradle/wrapper/gradle-wrapper.jar" | sha256sum -c --quiet
	cp $(WRAPPER_FROM)/gradlew $(WRAPPER_FROM)/gradlew.bat android_demo/
	chmod +x android_demo/gradlew
	cp $(WRAPPER_FROM)/gradle/wrapper/gradle-wrapper.jar $@
