// Package views holds the portal's templ components: pure functions of the
// view models in this package, with one layout. It must not import the
// database, builder or handler packages.
package views

import (
	"fmt"
	"strings"
)

// Languages the portal speaks, by tag.
const (
	LangEN = "en"
	LangZH = "zh-TW"
)

// Loc translates message keys for one language.
type Loc struct {
	Lang string
}

// T returns the message for key, formatted with args when given.
func (l Loc) T(key string, args ...any) string {
	msg, ok := catalogue[l.Lang][key]
	if !ok {
		msg, ok = catalogue[LangEN][key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(msg, args...)
	}
	return msg
}

// HTMLLang is the value of <html lang>.
func (l Loc) HTMLLang() string {
	if l.Lang == LangZH {
		return "zh-Hant-TW"
	}
	return "en"
}

// PickLang chooses a supported language from a cookie value or, failing
// that, an Accept-Language header.
func PickLang(cookie, acceptLanguage string) string {
	if cookie == LangEN || cookie == LangZH {
		return cookie
	}
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case tag == "zh-tw" || tag == "zh-hant" || strings.HasPrefix(tag, "zh-hant-") || tag == "zh-hk" || tag == "zh":
			return LangZH
		case strings.HasPrefix(tag, "en"):
			return LangEN
		}
	}
	return LangEN
}

// catalogue holds every visible string. The zh-TW wording follows the v2.8
// Image Builder document (客製化 image spec, 新增, 編輯, 刪除, 查看...).
var catalogue = map[string]map[string]string{
	LangEN: {
		"app.title":              "Image Builder",
		"nav.builder":            "Image Builder",
		"nav.images":             "Image Management",
		"nav.language":           "Language",
		"list.title":             "Image Builder",
		"list.intro":             "Custom image specs: a base image plus the packages your users need. Every confirmed create or edit builds a new image.",
		"list.add":               "+ Add",
		"list.empty":             "No custom image specs yet.",
		"list.empty.hint":        "Click “+ Add” to define one: choose a base image and list APT, Conda or Pip packages, one per line.",
		"col.name":               "Name",
		"col.status":             "Status",
		"col.image":              "Image",
		"col.actions":            "Actions",
		"col.updated":            "Updated At",
		"col.revision":           "Image Revision",
		"action.edit":            "Edit",
		"action.delete":          "Delete",
		"action.view":            "View",
		"action.copy":            "Copy",
		"action.copied":          "Copied",
		"action.cancel":          "Cancel",
		"action.confirm":         "Confirm",
		"action.cancel.build":    "Cancel build",
		"action.retry":           "Retry",
		"action.download":        "Download full log",
		"action.back":            "Back to Image Builder",
		"status.pending":         "Pending",
		"status.building":        "Building",
		"status.succeeded":       "Succeeded",
		"status.failed":          "Failed",
		"status.cancelled":       "Cancelled",
		"status.none":            "Not built",
		"image.none":             "—",
		"delete.title":           "Delete image spec",
		"delete.question":        "Delete the image spec “%s”? Its build jobs and logs are removed; images already pushed stay in the registry.",
		"delete.ok":              "OK",
		"form.create.title":      "Create Custom Image Spec",
		"form.edit.title":        "Edit Custom Image Spec",
		"form.name":              "Name",
		"form.name.help":         "Required and unique; cannot be changed later. Only lowercase letters, numbers, hyphen “-” and dot “.”.",
		"form.base":              "Base image",
		"form.base.help":         "Required. Any image URL, or choose an image from Image Management as you type.",
		"form.pullsecret":        "Use Image PullSecret",
		"form.pullsecret.choose": "Pull secret",
		"form.pullsecret.none":   "No pull secrets are configured.",
		"form.packages":          "Packages",
		"form.packages.note":     "For several packages, put each on its own line (line break), not several on one line.",
		"form.apt":               "APT",
		"form.apt.help":          "Debian/Ubuntu packages, e.g. curl, jq=1.6-2.1+deb12u3, curl/bookworm-backports.",
		"form.conda":             "Conda",
		"form.conda.help":        "Conda match specs: (channel(/subdir):(namespace):)name(version(build))[key1=value1,key2=value2], e.g. conda-forge::numpy==1.17*",
		"form.pip":               "Pip",
		"form.pip.help":          "PEP 508 requirements, e.g. requests>=2.31, pandas[excel]==2.2.*",
		"form.line":              "Line %d: ",
		"form.errors":            "Please fix the fields marked below; nothing was saved.",
		"form.errors.more":       "… and %d more problems in this list.",
		"form.packages.limits":   "At most %d lines per list, each at most %d characters.",
		"tab.info":               "Info",
		"tab.jobs":               "Jobs",
		"jobs.empty":             "No build jobs yet.",
		"job.title":              "Build job: %s, revision %d",
		"job.spec":               "Spec built by this job",
		"job.status":             "Status",
		"job.queued":             "Queued",
		"job.started":            "Started",
		"job.finished":           "Finished",
		"job.image":              "Image",
		"job.digest":             "Digest",
		"job.size":               "Compressed size",
		"job.error":              "Reason",
		"job.retryof":            "Retry of job",
		"job.log":                "Log",
		"job.log.help":           "The latest 2000 lines; download the full log below.",
		"job.log.empty":          "No log lines yet: the job is waiting for a builder.",
		"job.log.follow":         "Follow the log",
		"job.none":               "(none)",
		"registry.warning":       "image registry not found",
		"registry.warning.help":  "Builds cannot be pushed until a registry is configured and reachable.",
		"form.name.taken":        "an image spec named %q already exists",
		"images.name.required":   "a display name is required",
		"setup.short":            "The password needs at least %d characters.",
		"setup.long":             "The password is longer than %d bytes.",
		"registry.settings":      "Registry settings",
		"images.title":           "Image Management",
		"images.intro":           "Base images offered when creating or editing an image spec.",
		"images.empty":           "No base images yet.",
		"images.col.name":        "Display name",
		"images.col.reference":   "Image reference",
		"images.col.description": "Description",
		"nav.secrets":            "Pull secrets",
		"nav.logout":             "Sign out",
		"login.title":            "Sign in to Image Builder",
		"login.username":         "User name",
		"login.password":         "Password",
		"login.submit":           "Sign in",
		"login.wrong":            "Wrong user name or password.",
		"login.limited":          "Too many failed sign-ins from this address; try again in %d seconds.",
		"login.csrf":             "The sign-in form expired; please try again.",
		"setup.title":            "Create the first administrator",
		"setup.intro":            "No administrator exists yet. The account you create here signs you in.",
		"setup.confirm":          "Repeat the password",
		"setup.submit":           "Create administrator",
		"setup.username":         "A user name is required.",
		"setup.mismatch":         "The two passwords differ.",
		"images.add":             "Add a base image",
		"images.edit":            "Edit base image",
		"action.save":            "Save",
		"action.remove":          "Remove",
		"secrets.title":          "Pull secrets",
		"secrets.intro":          "Docker config JSON used to pull private base images. Values are encrypted and never shown again.",
		"secrets.empty":          "No pull secrets yet.",
		"secrets.add":            "Add or replace a pull secret",
		"secrets.help":           "Paste a .dockerconfigjson document: {\"auths\": {\"registry.example.com\": {\"auth\": \"base64(user:password)\"}}}. Saving a name again replaces its value.",
		"registry.intro":         "Where built images are pushed. Changes apply to new build jobs; each job records where it pushed.",
		"registry.saved":         "Registry settings saved.",
		"registry.embedded":      "Embedded registry",
		"registry.external":      "External registry",
		"registry.host":          "Registry address (host[:port][/prefix])",
		"registry.password.kept": "A password is stored; leave empty to keep it",
		"registry.insecure":      "Skip TLS verification (allow plain HTTP)",
		"registry.test":          "Test connection",
		"registry.test.ok":       "%s answered and accepted the credentials.",
		"err.notfound":           "Not found",
		"err.generic":            "Something went wrong",
	},
	LangZH: {
		"app.title":              "Image Builder",
		"nav.builder":            "Image Builder",
		"nav.images":             "Image 管理",
		"nav.language":           "語言",
		"list.title":             "Image Builder",
		"list.intro":             "客製化 image spec：指定基礎 image 及要安裝的工具及套件庫。每次確認新增或編輯，都會自動啟始新的創建工作。",
		"list.add":               "+ 新增",
		"list.empty":             "目前沒有客製化 image spec。",
		"list.empty.hint":        "點擊「+ 新增」：選擇 base image，並輸入 APT、Conda 或 Pip 套件，一行一個套件。",
		"col.name":               "名稱",
		"col.status":             "狀態",
		"col.image":              "Image",
		"col.actions":            "動作",
		"col.updated":            "最近更新時間",
		"col.revision":           "版號",
		"action.edit":            "編輯",
		"action.delete":          "刪除",
		"action.view":            "查看",
		"action.copy":            "複製",
		"action.copied":          "已複製",
		"action.cancel":          "取消",
		"action.confirm":         "確認",
		"action.cancel.build":    "取消創建",
		"action.retry":           "重試",
		"action.download":        "下載完整記錄",
		"action.back":            "回到 Image Builder",
		"status.pending":         "等待中",
		"status.building":        "創建中",
		"status.succeeded":       "成功",
		"status.failed":          "失敗",
		"status.cancelled":       "已取消",
		"status.none":            "尚未創建",
		"image.none":             "—",
		"delete.title":           "刪除 Image Spec",
		"delete.question":        "確定刪除 image spec「%s」？其創建工作及記錄將一併刪除；已上載的 image 仍保留在 Registry。",
		"delete.ok":              "確定",
		"form.create.title":      "新增客製化 Image Spec",
		"form.edit.title":        "編輯客製 Image Spec",
		"form.name":              "名稱",
		"form.name.help":         "必填，不可重複，建立後無法修改。只能填寫小寫字母、數字、點（“.”）、連接號（“-”）。",
		"form.base":              "Base image",
		"form.base.help":         "必填，base image 的 url。可輸入任何有效的 Image URL，或從自動列舉清單中選擇已透過 Image 管理加入的 Image。",
		"form.pullsecret":        "使用 Image PullSecret",
		"form.pullsecret.choose": "Pull secret",
		"form.pullsecret.none":   "尚未設定任何 pull secret。",
		"form.packages":          "套件",
		"form.packages.note":     "如果需安裝複數個套件時，請輸入一行為一套件，換行後輸入下一個套件。",
		"form.apt":               "APT",
		"form.apt.help":          "Debian、Ubuntu 及其它相關 linux distribution 的套件，例：curl、jq=1.6-2.1+deb12u3",
		"form.conda":             "Conda",
		"form.conda.help":        "指定 Conda 套件符合條件：(channel(/subdir):(namespace):)name(version(build))[key1=value1,key2=value2]，例：conda-forge::numpy==1.17*",
		"form.pip":               "Pip",
		"form.pip.help":          "Python 套件（PEP 508），例：requests>=2.31、pandas[excel]==2.2.*",
		"form.line":              "第 %d 行：",
		"form.errors":            "請修正下方標示的欄位；尚未儲存任何變更。",
		"form.errors.more":       "…以及此清單中其它 %d 個問題。",
		"form.packages.limits":   "每個清單最多 %d 行，每行最多 %d 個字元。",
		"tab.info":               "Info",
		"tab.jobs":               "Jobs",
		"jobs.empty":             "目前沒有創建工作。",
		"job.title":              "創建工作：%s，版號 %d",
		"job.spec":               "此工作創建依據的 spec",
		"job.status":             "狀態",
		"job.queued":             "排入時間",
		"job.started":            "開始時間",
		"job.finished":           "結束時間",
		"job.image":              "Image",
		"job.digest":             "Digest",
		"job.size":               "壓縮後大小",
		"job.error":              "原因",
		"job.retryof":            "重試自工作",
		"job.log":                "記錄",
		"job.log.help":           "預設只顯示最新的 2000 行資訊；按下「下載完整記錄」下載完整記錄。",
		"job.log.empty":          "尚無記錄：此工作正在等待創建。",
		"job.log.follow":         "自動捲動記錄",
		"job.none":               "（無）",
		"registry.warning":       "image registry not found",
		"registry.warning.help":  "Registry 尚未設定或無法連線，創建出來的 Image 無法上載。",
		"form.name.taken":        "名稱為 %q 的 image spec 已存在",
		"images.name.required":   "請填寫顯示名稱",
		"setup.short":            "密碼至少需要 %d 個字元。",
		"setup.long":             "密碼超過 %d 個位元組。",
		"registry.settings":      "Registry 設定",
		"images.title":           "Image 管理",
		"images.intro":           "新增或編輯 image spec 時可選擇的 base image。",
		"images.empty":           "目前沒有 base image。",
		"images.col.name":        "顯示名稱",
		"images.col.reference":   "Image URL",
		"images.col.description": "說明",
		"nav.secrets":            "Pull secrets",
		"nav.logout":             "登出",
		"login.title":            "登入 Image Builder",
		"login.username":         "使用者名稱",
		"login.password":         "密碼",
		"login.submit":           "登入",
		"login.wrong":            "使用者名稱或密碼錯誤。",
		"login.limited":          "此位址登入失敗次數過多，請於 %d 秒後再試。",
		"login.csrf":             "登入表單已過期，請再試一次。",
		"setup.title":            "建立第一位管理者",
		"setup.intro":            "目前尚無管理者。在此建立的帳號將直接登入。",
		"setup.confirm":          "再次輸入密碼",
		"setup.submit":           "建立管理者",
		"setup.username":         "請輸入使用者名稱。",
		"setup.mismatch":         "兩次輸入的密碼不同。",
		"images.add":             "新增 base image",
		"images.edit":            "編輯 base image",
		"action.save":            "儲存",
		"action.remove":          "移除",
		"secrets.title":          "Pull secrets",
		"secrets.intro":          "拉取私有 base image 所需的 Docker config JSON。內容加密保存，儲存後不再顯示。",
		"secrets.empty":          "目前沒有 pull secret。",
		"secrets.add":            "新增或取代 pull secret",
		"secrets.help":           "貼上 .dockerconfigjson 內容：{\"auths\": {\"registry.example.com\": {\"auth\": \"base64(user:password)\"}}}。以相同名稱儲存會取代原內容。",
		"registry.intro":         "創建出來的 Image 上載的 Registry。變更只影響之後的創建工作；每個工作都記錄其上載位置。",
		"registry.saved":         "已儲存 Registry 設定。",
		"registry.embedded":      "內建 Registry",
		"registry.external":      "外部 Registry",
		"registry.host":          "Registry 位址（host[:port][/prefix]）",
		"registry.password.kept": "已儲存密碼；留空則保留",
		"registry.insecure":      "略過 TLS 驗證（允許 HTTP）",
		"registry.test":          "測試連線",
		"registry.test.ok":       "%s 已回應並接受帳號密碼。",
		"err.notfound":           "找不到",
		"err.generic":            "發生錯誤",
	},
}
