package views

import "fmt"

// Msg translates a message that another package wrote as an English format
// and its arguments (validation problems, store errors, registry checks).
// The format is the message's identity; a format without a translation is
// shown in English.
func (l Loc) Msg(format string, args ...any) string {
	if t, ok := messages[l.Lang][format]; ok {
		format = t
	}
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Translates reports whether lang has its own wording for format.
func Translates(lang, format string) bool {
	_, ok := messages[lang][format]
	return ok
}

// messages holds the translations of formats written by the builder and db
// packages, keyed by the English format. A test in handlers checks that
// every format in those packages is here.
var messages = map[string]map[string]string{
	LangZH: {
		// The audit log's details (db.Describe).
		"first administrator, on the setup page": "第一位管理者，於初始設定頁面建立",
		"other sessions ended: %s":               "結束的其他登入階段：%s",
		"from %s":                                "來自 %s",
		"sessions ended: %s":                     "結束的登入階段：%s",
		"the active tag is off":                  "使用中 tag：關閉",
		"the active tag is on":                   "使用中 tag：開啟",
		"added as %s":                            "新增，名稱為 %s",
		"edited, named %s":                       "編輯，名稱為 %s",
		"policy: %s":                             "政策：%s",
		"follows the default":                    "沿用全域預設",
		"keep %s succeeded and %s failed or cancelled jobs, logs for %s days":   "保留成功工作 %s 個、失敗或取消工作 %s 個，記錄保留 %s 天",
		"deleted: jobs %s, revision tags %s, logs %s; freed: registry blobs %s": "已刪除：工作 %s 個、版號 tag %s 個、記錄 %s 份；已釋放：registry blob %s 個",
		"expires %s":                 "到期時間 %s",
		"events: %s":                 "事件：%s",
		"%s of job %s (delivery %s)": "工作 %[2]s 的 %[1]s（傳送 %[3]s）",
		"checked %s, changed %s, rebuilt %s, failed %s":                                            "已檢查 %s 個，有變更 %s 個，已重新創建 %s 個，失敗 %s 個",
		"the embedded registry":                                                                    "內建 Registry",
		"the external registry %s, user %s":                                                        "外部 Registry %s，使用者 %s",
		"the external registry %s, user %s, without TLS verification":                              "外部 Registry %s，使用者 %s，略過 TLS 驗證",
		"the external registry %s, user %s, with a password":                                       "外部 Registry %s，使用者 %s，已設定密碼",
		"the external registry %s, user %s, without TLS verification, with a password":             "外部 Registry %s，使用者 %s，略過 TLS 驗證，已設定密碼",
		"memory %s, CPUs %s":                                                                       "記憶體 %s，CPU %s",
		"housekeeping every %s, base image check every %s":                                         "定期清理間隔 %s，base image 檢查間隔 %s",
		"housekeeping every %s, base image check every %s, deleting tags in the external registry": "定期清理間隔 %s，base image 檢查間隔 %s，並刪除外部 registry 中的 tag",
		"package sources: %s":                                                                      "套件來源：%s",
		"%q is not a size such as 4GiB or 512MiB":                                                  "%q 不是有效的大小，例如 4GiB 或 512MiB",
		"at least 64MiB: package managers need room":                                               "至少 64MiB：套件管理工具需要足夠的記憶體",
		"%q is not a number of CPUs of at least 0.1":                                               "%q 不是至少 0.1 的 CPU 數量",
		"this machine has %d CPUs":                                                                 "這台機器只有 %d 個 CPU",
		// Package sources.
		"--override-channels needs at least one channel":                                   "--override-channels 至少需要一個 channel",
		"a key needs an APT source line":                                                   "金鑰需要搭配一行 APT 來源",
		"%q contains a space or a control character":                                       "%q 含有空白或控制字元",
		"%q is not an http:// or https:// URL":                                             "%q 不是 http:// 或 https:// URL",
		"%q is not a host or host:port":                                                    "%q 不是主機或「主機:連接埠」",
		"%q is neither a channel name nor an http(s) URL":                                  "%q 既不是 channel 名稱，也不是 http(s) URL",
		"the APT source must be one line":                                                  "APT 來源必須是一行",
		"the APT source must start with \"deb\"":                                           "APT 來源必須以 “deb” 開頭",
		"deb-src lines fetch source packages, which builds never use: give a \"deb\" line": "deb-src 行取得的是原始碼套件，創建不會使用：請填寫 “deb” 行",
		"the options in [ ] are not closed":                                                "[ ] 中的選項沒有結束",
		"write \"deb [options] URI suite [components]\"":                                   "請寫成 “deb [選項] URI suite [components]”",
		"a suite ending in / takes no components":                                          "以 / 結尾的 suite 不能加 components",
		"paste an ASCII-armoured public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)":        "請貼上 ASCII armor 格式的公鑰（-----BEGIN PGP PUBLIC KEY BLOCK-----）",
		"enter the password or token again: no stored URL matches %q":                      "請重新輸入密碼或 token：沒有已儲存的 URL 符合 %q",
		// Spec name and base image.
		"name is required": "請填寫名稱",
		"name is %d characters long; at most %d are allowed":                                        "名稱長度為 %d 個字元，最多只能 %d 個字元",
		"%q has an uppercase letter; only lowercase letters, numbers, '-' and '.' are allowed":      "%q 含有大寫字母；只能填寫小寫字母、數字、“-” 及 “.”",
		"%q contains %q; only lowercase letters, numbers, '-' and '.' are allowed":                  "%q 含有 %q；只能填寫小寫字母、數字、“-” 及 “.”",
		"name must start with a letter or a number":                                                 "名稱必須以字母或數字開頭",
		"name must end with a letter or a number":                                                   "名稱必須以字母或數字結尾",
		"name must not contain '..'":                                                                "名稱不可包含 “..”",
		"a '.' must not stand next to a '-'":                                                        "“.” 不可緊鄰 “-”",
		"name is not a valid image repository name":                                                 "名稱不是有效的 image repository 名稱",
		"base image is required":                                                                    "請填寫 base image",
		"an image reference must not contain spaces or line breaks":                                 "Image URL 不可包含空白或換行",
		"%q is not a valid image reference (%s); expected e.g. registry.example.com/team/image:tag": "%q 不是有效的 Image URL（%s）；格式例如 registry.example.com/team/image:tag",

		// Every package list.
		"%q is listed twice (first on line %d)":                                                                       "%q 重複列出（第一次出現在第 %d 行）",
		"control character %q is not allowed":                                                                         "不可使用控制字元 %q",
		"character %q is not allowed in a package line":                                                               "套件行中不可使用字元 %q",
		"options such as %q are not allowed; list one package per line instead":                                       "不可使用 %q 之類的選項；請一行填寫一個套件",
		"options such as %q are not allowed; write the channel in the package itself, e.g. conda-forge::numpy==1.17*": "不可使用 %q 之類的選項；請將 channel 寫在套件中，例：conda-forge::numpy==1.17*",

		// APT.
		"%q holds more than one word; put one package on each line":                                                            "%q 包含不只一個字；請一行填寫一個套件",
		"%q is not a valid architecture after ':' (e.g. amd64, arm64, i386)":                                                   "“:” 之後的 %q 不是有效的架構（例：amd64、arm64、i386）",
		"a version must follow '=' (e.g. curl=7.88.1-10+deb12u5)":                                                              "“=” 之後必須填寫版本（例：curl=7.88.1-10+deb12u5）",
		"%q is not a valid Debian version":                                                                                     "%q 不是有效的 Debian 版本",
		"a release must follow '/' (e.g. curl/bookworm-backports)":                                                             "“/” 之後必須填寫 release（例：curl/bookworm-backports）",
		"%q is not a valid release name":                                                                                       "%q 不是有效的 release 名稱",
		"the list has %d lines; at most %d are allowed":                                                                        "此清單有 %d 行，最多只能 %d 行",
		"the line is %d characters long; at most %d are allowed":                                                               "此行長度為 %d 個字元，最多只能 %d 個字元",
		"pull secret %q does not exist; add it under Pull secrets first, or choose another one":                                "pull secret %q 不存在；請先於 Pull secrets 新增，或選擇其它 pull secret",
		"a package name is required":                                                                                           "請填寫套件名稱",
		"%q has uppercase letters; Debian package names are lowercase":                                                         "%q 含有大寫字母；Debian 套件名稱只用小寫",
		"%q is too short; Debian package names have at least two characters":                                                   "%q 太短；Debian 套件名稱至少兩個字元",
		"%q is not a valid Debian package name (lowercase letters, digits, '+', '-' and '.', starting with a letter or digit)": "%q 不是有效的 Debian 套件名稱（小寫字母、數字、“+”、“-” 及 “.”，以字母或數字開頭）",

		// Conda match specs.
		"'[' is never closed with ']'":                                                                       "“[” 沒有對應的 “]”",
		"the [key=value] section must come last, found %q after it":                                          "[key=value] 區段必須放在最後，其後卻有 %q",
		"only one [key=value] section is allowed, at the end":                                                "只能有一個 [key=value] 區段，且必須放在最後",
		"']' has no matching '['":                                                                            "“]” 沒有對應的 “[”",
		"a channel is written as channel::name (two colons), e.g. conda-forge::numpy":                        "channel 的寫法為 channel::name（兩個冒號），例：conda-forge::numpy",
		"the channel before '::' is empty":                                                                   "“::” 之前的 channel 是空的",
		"%q is not a valid namespace":                                                                        "%q 不是有效的 namespace",
		"%q has too many parts; write name, version and build at most, and put each package on its own line": "%q 的部分太多；最多只能寫名稱、版本及 build，且一行填寫一個套件",
		"a package name is required before %q":                                                               "%q 之前必須填寫套件名稱",
		"%q is not a valid build string":                                                                     "%q 不是有效的 build 字串",
		"the version is given twice: %q and [version=%q]":                                                    "版本重複指定：%q 與 [version=%q]",
		"the build is given twice: %q and [build=%q]":                                                        "build 重複指定：%q 與 [build=%q]",
		"%q is not a valid conda package name (letters, digits, '_', '-', '.' and '+')":                      "%q 不是有效的 conda 套件名稱（字母、數字、“_”、“-”、“.” 及 “+”）",
		"%q is not a valid channel URL":                                                                      "%q 不是有效的 channel URL",
		"%q is not a valid channel; a subdir after '/' must be a platform such as linux-64 or noarch":        "%q 不是有效的 channel；“/” 之後的 subdir 必須是平台名稱，例如 linux-64 或 noarch",
		"%q is not a valid channel name":                                                                     "%q 不是有效的 channel 名稱",
		"')' in version %q has no matching '('":                                                              "版本 %q 中的 “)” 沒有對應的 “(”",
		"'(' in version %q is never closed":                                                                  "版本 %q 中的 “(” 沒有對應的 “)”",
		"version %q has an empty constraint (check ',' and '|')":                                             "版本 %q 有空的條件（請檢查 “,” 及 “|”）",
		"unknown version operator %q in %q; use one of ==, !=, <=, >=, <, >, ~=, =":                          "%[2]q 中有未知的版本運算子 %[1]q；請使用 ==、!=、<=、>=、<、>、~=、= 其中之一",
		"a version must follow %q in %q":                                                                     "%[2]q 中的 %[1]q 之後必須填寫版本",
		"%q is not a valid version in %q":                                                                    "%[2]q 中的 %[1]q 不是有效的版本",
		"the [ ] section is empty; write key=value pairs such as [build=py36_0]":                             "[ ] 區段是空的；請填寫 key=value，例如 [build=py36_0]",
		"%q in [ ] is not key=value":                                                                         "[ ] 中的 %q 不是 key=value 格式",
		"unknown key %q in [ ]; known keys: %s":                                                              "[ ] 中有未知的 key %q；可用的 key：%s",
		"key %q appears twice in [ ]":                                                                        "[ ] 中的 key %q 重複出現",
		"the quoted value of %q is never closed":                                                             "%q 的引號值沒有結束引號",
		"key %q in [ ] has an empty value":                                                                   "[ ] 中的 key %q 沒有值",
		"the value %q of %q has characters conda does not accept":                                            "%[2]q 的值 %[1]q 含有 conda 不接受的字元",
		"unexpected %q in [ ]; separate key=value pairs with ','":                                            "[ ] 中出現非預期的 %q；請以 “,” 分隔 key=value",
		"[ ] ends with a ','":                                                                                "[ ] 以 “,” 結尾",

		// Pip requirements (PEP 508).
		"a project name is missing at the end":                                                                "結尾缺少專案名稱",
		"an extra name is missing at the end":                                                                 "結尾缺少 extra 名稱",
		"a project name must start with a letter or digit, found %q":                                          "專案名稱必須以字母或數字開頭，卻是 %q",
		"an extra name must start with a letter or digit, found %q":                                           "extra 名稱必須以字母或數字開頭，卻是 %q",
		"project name %q must end with a letter or digit":                                                     "專案名稱 %q 必須以字母或數字結尾",
		"extra name %q must end with a letter or digit":                                                       "extra 名稱 %q 必須以字母或數字結尾",
		"unexpected %q after the URL":                                                                         "URL 之後出現非預期的 %q",
		"unexpected %q: put one requirement on each line":                                                     "非預期的 %q：請一行填寫一個套件",
		"unexpected %q; expected a version specifier (e.g. >=1.0), extras in [ ], '@ URL' or '; marker'":      "非預期的 %q；此處應為版本條件（例：>=1.0）、[ ] 中的 extras、“@ URL” 或 “; marker”",
		"'[' of the extras is never closed with ']'":                                                          "extras 的 “[” 沒有對應的 “]”",
		"unexpected %q in the extras; separate extras with ','":                                               "extras 中出現非預期的 %q；請以 “,” 分隔 extras",
		"a version comparison (==, !=, <=, >=, <, >, ~=, ===) is expected, found %q":                          "此處應為版本比較（==、!=、<=、>=、<、>、~=、===），卻是 %q",
		"unknown version operator %q; use one of ==, !=, <=, >=, <, >, ~=, ===":                               "未知的版本運算子 %q；請使用 ==、!=、<=、>=、<、>、~=、=== 其中之一",
		"a version must follow %q":                                                                            "%q 之後必須填寫版本",
		"%q is not a valid version after %q":                                                                  "%[2]q 之後的 %[1]q 不是有效的版本",
		"a wildcard version such as %q works only with == or !=":                                              "%q 這類萬用字元版本只能搭配 == 或 !=",
		"'(' of the version specifier is never closed with ')'":                                               "版本條件的 “(” 沒有對應的 “)”",
		"a URL must follow '@'":                                                                               "“@” 之後必須填寫 URL",
		"%q is not a valid URL (e.g. https://example.com/pkg-1.0.tar.gz)":                                     "%q 不是有效的 URL（例：https://example.com/pkg-1.0.tar.gz）",
		"URL scheme %q is not supported; use https, http, file or git+https":                                  "不支援 URL scheme %q；請使用 https、http、file 或 git+https",
		"'(' in the environment marker is never closed with ')'":                                              "環境標記中的 “(” 沒有對應的 “)”",
		"a quoted string in the environment marker is never closed":                                           "環境標記中的引號字串沒有結束引號",
		"the environment marker ends too early":                                                               "環境標記過早結束",
		"unexpected %q in the environment marker":                                                             "環境標記中出現非預期的 %q",
		"%q is not an environment marker variable (e.g. python_version, sys_platform)":                        "%q 不是環境標記變數（例：python_version、sys_platform）",
		"a comparison (==, !=, <, >, <=, >=, ~=, in, not in) is expected in the environment marker, found %q": "環境標記中此處應為比較運算（==、!=、<、>、<=、>=、~=、in、not in），卻是 %q",

		// Pull secrets and registry settings.
		`not valid JSON; expected {"auths": {"registry.example.com": {"auth": "base64(user:password)"}}}`: `不是有效的 JSON；格式應為 {"auths": {"registry.example.com": {"auth": "base64(user:password)"}}}`,
		`"auths" is missing or empty; expected {"auths": {"registry.example.com": {"auth": "..."}}}`:      `缺少 "auths" 或其內容是空的；格式應為 {"auths": {"registry.example.com": {"auth": "..."}}}`,
		`an entry of "auths" has an empty registry name`:                                                  `"auths" 中有一筆的 registry 名稱是空的`,
		`the "auth" of %q must be base64 of "user:password"`:                                              `%q 的 "auth" 必須是 "user:password" 的 base64`,
		`the entry for %q needs "auth", or "username" and "password"`:                                     `%q 這一筆需要 "auth"，或 "username" 與 "password"`,
		"the registry address is required, e.g. registry.example.com or registry.example.com:5000/team":   "請填寫 Registry 位址，例：registry.example.com 或 registry.example.com:5000/team",
		"write the registry without a scheme (no https://), e.g. registry.example.com:5000":               "Registry 位址請勿包含 scheme（不要寫 https://），例：registry.example.com:5000",
		"the registry address must not contain spaces":                                                    "Registry 位址不可包含空白",
		"%q is not a registry address, e.g. registry.example.com:5000/team":                               "%q 不是 Registry 位址，例：registry.example.com:5000/team",
		"DNS: cannot resolve %q": "DNS：無法解析 %q",
		"refused: %s is a link-local or cloud metadata address; start the server with --registry-allow-link-local to use a registry there": "已拒絕：%s 是 link-local 或雲端 metadata 位址；若要使用該處的 Registry，請以 --registry-allow-link-local 啟動伺服器",
		"TLS: the certificate of %s is not trusted; enable skip-TLS-verify for a registry with a self-signed certificate":                  "TLS：%s 的憑證不受信任；自簽憑證的 Registry 請啟用略過 TLS 驗證",
		"unreachable: cannot connect to %s":                                      "無法連線：連不到 %s",
		"not a registry: %s does not answer like a container registry":           "不是 Registry：%s 的回應不像容器 Registry",
		"authentication: %s refused the user name and password":                  "驗證：%s 拒絕此使用者名稱及密碼",
		"TLS: %s speaks plain HTTP; enable skip-TLS-verify (insecure) to use it": "TLS：%s 使用純 HTTP；請啟用略過 TLS 驗證（insecure）才能使用",
		"authentication: %s requires a user name and password":                   "驗證：%s 需要使用者名稱及密碼",

		// The store.
		"an image spec named %q already exists":                                                  "名稱為 %q 的 image spec 已存在",
		"image spec %q does not exist":                                                           "image spec %q 不存在",
		"image spec %q still has a build running; cancel it first":                               "image spec %q 仍有創建工作在進行；請先取消",
		"build job %d does not exist":                                                            "創建工作 %d 不存在",
		"build job %d has already started":                                                       "創建工作 %d 已開始",
		"build job %d is %s and cannot become %s":                                                "創建工作 %d 目前為 %s，無法變成 %s",
		"%q is not a whole number from 0 (keep all) to %d":                                       "%q 不是 0（全部保留）到 %d 之間的整數",
		"%q is not an interval from 1m to 720h, such as 30m, 1h or 6h (0: only from the button)": "%q 不是 1m 到 720h 之間的間隔，例如 30m、1h 或 6h（0：只在按下按鈕時執行）",
		"%s does not delete tags (the registry refused DELETE by tag with status %d); turn off deleting tags in an external registry": "%s 不支援刪除 tag（registry 以狀態 %d 拒絕依 tag 刪除）；請關閉刪除外部 registry 的 tag",
		"%s refused to delete %s: the registry refused the user name and password":                                                    "%s 拒絕刪除 %s：registry 不接受此帳號密碼",
		"%s refused to delete %s: the registry user may push but not delete":                                                          "%s 拒絕刪除 %s：此 registry 帳號可推送但無刪除權限",
		"the body names %q but the URL names %q; a spec cannot be renamed":                                                            "內容指定 %q，但網址指定 %q；spec 無法改名",
		"a display name is required":  "請填寫顯示名稱",
		"no such API token":           "沒有此 API token",
		"API token %d does not exist": "API token %d 不存在",
		"the URL is required, e.g. https://chat.example.com/hooks/builds":                  "請填寫 URL，例如 https://chat.example.com/hooks/builds",
		"%q is not an http or https URL":                                                   "%q 不是 http 或 https 的 URL",
		"put no user name or password in the URL: the secret signs every delivery":         "URL 中請勿包含帳號或密碼：每次傳送都由密鑰簽章",
		"the secret needs at least 16 characters":                                          "密鑰至少需要 16 個字元",
		"choose at least one event":                                                        "請至少選擇一個事件",
		"%q is not an event":                                                               "%q 不是事件",
		"webhook %d does not exist":                                                        "webhook %d 不存在",
		"delivery %d does not exist":                                                       "傳送 %d 不存在",
		"%q is not a base image policy":                                                    "%q 不是 base image 的處理政策",
		"revision %d is %s; only a succeeded revision can be active":                       "版號 %d 目前為 %s；只有成功的版本可以設為使用中",
		"build job %d is not a revision of %s":                                             "創建工作 %d 不是 %s 的版號",
		"revision %d is %s; only succeeded revisions can be rebuilt":                       "版號 %d 目前為 %s；只有成功的版本可以重新創建",
		"revision %d is %s; only failed or cancelled builds can be retried":                "版號 %d 目前為 %s；只有失敗或已取消的創建工作可以重試",
		"revision %d is not the latest build of %q; retry the latest one or edit the spec": "版號 %d 不是 %q 最新的創建工作；請重試最新的工作或編輯 spec",
		"%s is already in Image Management":                                                "%s 已在 Image 管理中",
		"base image %d does not exist":                                                     "base image %d 不存在",
		"pull secret %q does not exist":                                                    "pull secret %q 不存在",
		"an administrator named %q already exists":                                         "名稱為 %q 的管理者已存在",
		"an administrator already exists; sign in instead":                                 "已有管理者；請直接登入",
		"administrator %q does not exist":                                                  "管理者 %q 不存在",
		"session expired or signed out":                                                    "登入階段已過期或已登出",
	},
}
